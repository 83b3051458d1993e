// The per-device kernel table. The op layer (csrc/ops) checks arguments,
// computes shapes, allocates outputs and records autograd; then it calls
// exactly one of these primitives on the backend of the tensors' device.
//
// Contract for every primitive: all tensors live on this backend's device;
// shapes already agree (broadcast inputs arrive as stride-0 views); strides
// are arbitrary unless a comment says "contiguous". Kernels never allocate
// tensors the caller can see and never throw for valid input.
//
// The CPU backend is filled in cpu/; the CUDA backend registers itself in
// cuda/register.cu through register_backend(), called from one visible place
// (ember::init_backends). Without CUDA, a stub backend throws a clear error.
#pragma once
#include <cstdint>

#include "scalar.h"
#include "tensor.h"

namespace ember {

enum class UnaryOp : unsigned char {
  Neg, Abs, Exp, Log, Sqrt, Rsqrt, Sin, Cos, Tan, Tanh, Sigmoid, Relu, Sign,
  Floor, Ceil, Round, Trunc, Log1p, Expm1, Log2, Log10, Exp2, Square, Reciprocal,
  Erf, LogicalNot, BitwiseNot,
  Sinh, Cosh,  // hyperbolic functions (D2L's import-time aliases)
  kCount
};

enum class BinaryOp : unsigned char {
  Add, Sub, Mul, Div, FloorDiv, Remainder, Pow, Maximum, Minimum, Atan2,
  Eq, Ne, Lt, Le, Gt, Ge,  // comparisons: output dtype Bool
  LogicalAnd, LogicalOr, LogicalXor,  // output dtype Bool
  BitAnd, BitOr, BitXor,
  // Fused backward helpers, a = upstream gradient, b = saved tensor:
  ReluBackward,     // a * (b > 0), b the input or the output of relu
  SigmoidBackward,  // a * b * (1 - b), b the output of sigmoid
  TanhBackward,     // a * (1 - b * b), b the output of tanh
  kCount
};

inline bool is_comparison(BinaryOp op) {
  return op >= BinaryOp::Eq && op <= BinaryOp::LogicalXor;
}

enum class ReduceOp : unsigned char { Sum, Prod, Max, Min, Any, All, kCount };

// Geometry of a 2-D convolution over NCHW (conv1d runs as a conv2d of height 1).
// Padding is symmetric here: the op layer pads asymmetric cases ('same' with
// an even kernel) explicitly first.
struct Conv2dParams {
  int64_t stride[2] = {1, 1};
  int64_t padding[2] = {0, 0};
  int64_t dilation[2] = {1, 1};
  int64_t groups = 1;
};

// Geometry of a 2-D pooling window over NCHW. A fixed window of input row
// `oh` spans rows oh*stride - padding + i*dilation for i < kernel, clipped
// to the input (padded positions never win a max; for averages they count
// only with count_include_pad, up to padding past the edge, as PyTorch).
// Adaptive pooling (kernel/stride/padding ignored) gives output row oh the
// input rows [floor(oh*H/Ho), ceil((oh+1)*H/Ho)).
struct Pool2dParams {
  int64_t kernel[2] = {1, 1};
  int64_t stride[2] = {1, 1};
  int64_t padding[2] = {0, 0};
  int64_t dilation[2] = {1, 1};
  bool adaptive = false;
  bool count_include_pad = true;  // averages only
  int64_t divisor_override = 0;   // averages only; 0 = none
};

struct Backend {
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // Memory. The CPU allocator aligns to 64 bytes; device allocators cache.
  virtual void* allocate(size_t nbytes, int device_index) = 0;
  virtual void deallocate(void* ptr, size_t nbytes, int device_index) = 0;
  virtual void copy_from_host(void* dst, const void* src, size_t nbytes, int device_index) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t nbytes, int device_index) = 0;
  virtual void synchronize(int device_index) = 0;

  // dst = src elementwise, converting dtype; same shape.
  virtual void copy(const Tensor& dst, const Tensor& src) = 0;
  virtual void fill(const Tensor& dst, const Scalar& value) = 0;
  // out.dtype == in.dtype except LogicalNot (out Bool). Floating ops get
  // floating dtypes only (the op layer promotes first).
  virtual void unary(UnaryOp op, const Tensor& out, const Tensor& in) = 0;
  // a.dtype == b.dtype; out.dtype is a.dtype, or Bool for is_comparison(op).
  // out may be the very tensor `a` (same storage, offset and strides: the
  // in-place ops write through it); it never overlaps an input otherwise.
  virtual void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) = 0;
  // out = min(max(in, lo), hi); has_lo/has_hi select the bounds.
  virtual void clamp(const Tensor& out, const Tensor& in, bool has_lo, double lo, bool has_hi, double hi) = 0;
  // out = cond ? a : b; cond Bool, a/b/out one dtype.
  virtual void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) = 0;

  // out has in's ndim with size 1 on the reduced dims (keepdim layout);
  // out.dtype == in.dtype, except Any/All give Bool.
  virtual void reduce(ReduceOp op, const Tensor& out, const Tensor& in) = 0;
  // Over the last dim of a contiguous [outer, n] input (n >= 1): contiguous values
  // (in.dtype) and int64 indices of the first max/min; NaN wins, as in PyTorch.
  virtual void arg_reduce(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& in) = 0;
  // Inclusive prefix sum along `dim`; out same shape and dtype as in.
  virtual void cumsum(const Tensor& out, const Tensor& in, int64_t dim) = 0;

  // out[b] (+)= a[b] @ b_[b] for 3-D [B,M,K] x [B,K,N] -> [B,M,N], one
  // dtype, any strides (a batch stride may be 0). `accumulate` adds into out
  // (used for the fused bias of Linear).
  virtual void matmul(const Tensor& out, const Tensor& a, const Tensor& b, bool accumulate) = 0;

  // Indexing by element offsets into a storage (the op layer validated them):
  // out[i] = element at src.offset + offsets[i] of src's storage.
  // offsets: int64, out's shape.
  virtual void take(const Tensor& out, const Tensor& src, const Tensor& offsets) = 0;
  // Row gather, the common `x[idx]` of a data loader: out[i, :] = src[rows[i], :].
  // src 2-D [R, W] with contiguous rows (strides[1] == 1, any row stride),
  // rows int64 1-D [n] in [0, R) (validated), out contiguous [n, W], one dtype.
  virtual void take_rows(const Tensor& out, const Tensor& src, const Tensor& rows) = 0;
  // element at dst.offset + offsets[i] of dst's storage (=|+=) values[i];
  // offsets/values share a shape; with accumulate, repeated offsets add up.
  virtual void put(const Tensor& dst, const Tensor& offsets, const Tensor& values, bool accumulate) = 0;
  // Coordinates of the nonzero elements, row-major: int64 [count, ndim].
  virtual Tensor nonzero(const Tensor& in) = 0;

  // Counter-based (Philox4x32-10) random numbers, so a seed gives the same
  // stream on every device: element i uses counter (offset + i/4), key seed.
  virtual void uniform(const Tensor& out, double lo, double hi, uint64_t seed, uint64_t offset) = 0;
  virtual void normal(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) = 0;

  // Softmax or log-softmax along the last dim of a contiguous [outer, n].
  virtual void softmax(const Tensor& out, const Tensor& in, bool log) = 0;
  // grad_in from grad_out and the saved forward output, same layout.
  virtual void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log) = 0;

  // ---- convolution (ops/conv.cpp) ----
  // Every tensor contiguous, one dtype (float32 or float64; the op layer
  // converts 16-bit types). in [N, Ci, H, W], weight [Co, Ci/groups, kh, kw],
  // out [N, Co, Ho, Wo]; bias [Co] or null. Results must not depend on the
  // thread count (sums over the batch split by size, never by thread).
  virtual void conv2d(const Tensor& out, const Tensor& in, const Tensor& weight, const Tensor& bias,
                      const Conv2dParams& p) = 0;
  // grad_in [N, Ci, H, W] (overwritten) from grad_out [N, Co, Ho, Wo] and weight.
  virtual void conv2d_backward_input(const Tensor& grad_in, const Tensor& grad_out, const Tensor& weight,
                                     const Conv2dParams& p) = 0;
  // grad_weight [Co, Ci/groups, kh, kw] (overwritten) = the batch's sum.
  virtual void conv2d_backward_weight(const Tensor& grad_weight, const Tensor& grad_out, const Tensor& in,
                                      const Conv2dParams& p) = 0;

  // ---- pooling (ops/pool.cpp) ----
  // in [N, C, H, W] contiguous float32/float64, out [N, C, Ho, Wo] contiguous,
  // same dtype. Max pooling also writes int64 indices [N, C, Ho, Wo]: the
  // winner's flat position h * W + w within its plane (the first maximum in
  // window order; NaN wins, as PyTorch). A window with no valid position
  // cannot occur (the op layer checks the geometry).
  virtual void max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& in, const Pool2dParams& p) = 0;
  // grad_in [N, C, H, W] (overwritten): the sum of grad_out over the outputs
  // whose index points at each position, in a fixed order (deterministic).
  virtual void max_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& indices) = 0;
  virtual void avg_pool2d(const Tensor& out, const Tensor& in, const Pool2dParams& p) = 0;
  // grad_in [N, C, H, W] (overwritten) from grad_out [N, C, Ho, Wo], same geometry.
  virtual void avg_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out, const Pool2dParams& p) = 0;

  // ---- normalization (ops/norm.cpp) ----
  // `in` (and grad_out) arrive as contiguous 3-D [N, C, S]: batch norm's
  // input with S the product of the trailing dims (1 for [N, C]); layer
  // norm's as [1, rows, normalized size], its rows being the channels. Every
  // tensor is contiguous, one dtype (float32 or float64; the op layer
  // converts 16-bit types); the per-channel vectors are [C]. Sums
  // accumulate in at least double precision, and results must not depend
  // on the thread count: the work splits into blocks fixed by the sizes,
  // whose partial results combine in block order.
  //
  // mean[c] and var[c] = the mean and the biased variance (divided by N*S)
  // of channel c, numerically stable (two-pass within a block, or Welford,
  // then Chan's combination of the blocks), for N*S >= 1.
  virtual void batch_norm_stats(const Tensor& mean, const Tensor& var, const Tensor& in) = 0;
  // out[n, c, s] = in[n, c, s] * scale[c] + shift[c], one pass (the forward
  // of both modes, with scale = weight * invstd and shift = bias - mean * scale).
  // out may be the very tensor `in`.
  virtual void batch_norm_apply(const Tensor& out, const Tensor& in, const Tensor& scale, const Tensor& shift) = 0;
  // sum_dy[c] = sum over n, s of grad_out; sum_dy_xmu[c] = sum of
  // grad_out * (in - mean[c]); one pass over both inputs.
  virtual void batch_norm_backward_reduce(const Tensor& sum_dy, const Tensor& sum_dy_xmu, const Tensor& grad_out,
                                          const Tensor& in, const Tensor& mean) = 0;
  // grad_in[n, c, s] = grad_out * dy_scale[c] + (in - mean[c]) * xmu_scale[c]
  // + shift[c], one pass (the op layer folds the reduced sums, weight and
  // invstd into the three coefficient vectors).
  virtual void batch_norm_backward_apply(const Tensor& grad_in, const Tensor& grad_out, const Tensor& in,
                                         const Tensor& mean, const Tensor& dy_scale, const Tensor& xmu_scale,
                                         const Tensor& shift) = 0;

  // ---- sorting and ordered scatter (ops/sort.cpp, ops/scatter.cpp, ops/multinomial.cpp) ----
  // Stable sort along the last dim of a contiguous [outer, n] input (n >= 1)
  // into contiguous values (in.dtype) and int64 indices. NaN ranks above
  // every number (last ascending, first descending); equal elements, -0.0
  // and 0.0 included, keep their order. dtypes: bool, integers, float32/64.
  virtual void sort(const Tensor& values, const Tensor& indices, const Tensor& in, bool descending) = 0;
  // The first k (1 <= k < n) of that sort of each row (descending when
  // `largest`), in contiguous [outer, k] values and indices: topk without
  // sorting whole rows.
  virtual void topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, bool largest) = 0;
  // Row r of contiguous sorted [outer, n] and contiguous values [outer, m]:
  // out[r, j] (int64) = the number of sorted[r, :] that are < values[r, j]
  // (<= when `right`). One dtype among integers, float32/64; n >= 1.
  virtual void searchsorted(const Tensor& out, const Tensor& sorted, const Tensor& values, bool right) = 0;
  // element at dst.offset + offsets[i] of dst's storage = op(it, values[i])
  // for op Sum, Prod, Max, Min (NaN wins), applied in increasing i, so that
  // repeated offsets give the same bits on every run and every device.
  // offsets int64 and values (dst.dtype: bool, integers, float32/64) contiguous,
  // one shape; offsets validated.
  virtual void put_reduce(ReduceOp op, const Tensor& dst, const Tensor& offsets, const Tensor& values) = 0;
};

// The backend for a device type; throws the registered "missing" message
// when that backend is not built or has no device.
Backend& backend(DeviceType type);
inline Backend& backend(Device d) { return backend(d.type); }
void register_backend(DeviceType type, Backend* b);
// What backend() says when asked for an unregistered device type, e.g.
// "ember was built without CUDA" (stub) or "no CUDA device is available".
void set_missing_backend_message(DeviceType type, const std::string& message);
// Registers the CPU backend; idempotent. The CUDA backend is registered by
// cuda/ (ember::register_cuda_backend), called once by the Python module.
void init_backends();

}  // namespace ember
