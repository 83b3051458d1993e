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
