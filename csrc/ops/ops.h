// The op layer: every tensor operation, declared once. Each op checks its
// arguments (shapes, dtypes, devices), computes the output geometry,
// allocates, calls one backend primitive and records autograd history.
// Bindings and the autograd formulas both call these functions.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../backend.h"
#include "../scalar.h"
#include "../tensor.h"

namespace ember {

// ---- shape helpers (ops/shape_util.cpp) ----
int64_t wrap_dim(int64_t dim, int64_t ndim);  // negative dims; IndexError when out of range
Shape broadcast_shapes(const Shape& a, const Shape& b);
Tensor expand_to(const Tensor& t, const Shape& shape);  // view, no checks beyond broadcastability
// Sums `grad` down to `shape` (the reverse of broadcasting), for backward.
Tensor sum_to(const Tensor& grad, const Shape& shape);
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
// In-place ops that read and write each element refuse a destination with
// several elements on one memory location (an expanded tensor), as PyTorch.
void check_no_internal_overlap(const Tensor& t);

// ---- creation (ops/creation.cpp) ----
Tensor empty(const Shape& shape, DType dtype, Device device);
Tensor full(const Shape& shape, const Scalar& value, DType dtype, Device device);
Tensor zeros(const Shape& shape, DType dtype, Device device);
Tensor ones(const Shape& shape, DType dtype, Device device);
Tensor scalar_tensor(const Scalar& value, DType dtype, Device device);
Tensor arange(double start, double end, double step, DType dtype, Device device);
Tensor linspace(double start, double end, int64_t steps, DType dtype, Device device);
Tensor eye(int64_t n, int64_t m, DType dtype, Device device);
Tensor from_host(const void* data, const Shape& shape, DType dtype, Device device);  // copies

// ---- conversion and copies (ops/copy.cpp) ----
Tensor to_dtype(const Tensor& t, DType dtype);       // same object when nothing changes
Tensor to_device(const Tensor& t, Device device);    // same object when nothing moves
Tensor contiguous(const Tensor& t);                  // same object when already contiguous
Tensor clone(const Tensor& t);
Tensor detach(const Tensor& t);
Tensor& copy_(Tensor& dst, const Tensor& src);        // broadcasting, dtype and device conversion
Tensor& fill_(Tensor& t, const Scalar& value);
Tensor& zero_(Tensor& t);
Scalar item(const Tensor& t);

// ---- elementwise (ops/elementwise.cpp) ----
DType result_type(const Tensor& a, const Tensor& b);
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor& binary_(BinaryOp op, Tensor& self, const Tensor& other);  // in place, self keeps its dtype
Tensor unary(UnaryOp op, const Tensor& a);
Tensor& unary_(UnaryOp op, Tensor& self);
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& a);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor mul_scalar(const Tensor& a, double s);
Tensor add_scalar(const Tensor& a, double s);
Tensor pow_scalar(const Tensor& a, double exponent);
Tensor clamp(const Tensor& a, std::optional<double> lo, std::optional<double> hi);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// A 0-d tensor holding a Python number, flagged as a wrapped number.
Tensor wrap_scalar(const Scalar& s, Device device);

// ---- reductions (ops/reduce.cpp) ----
// `dims` empty means all dims.
Tensor sum(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim, std::optional<DType> dtype = {});
Tensor mean(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim);
Tensor prod(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim);
Tensor amax(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim);
Tensor amin(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim);
Tensor any(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim);
Tensor all(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim);
// max/min over one dim: (values, int64 indices).
std::pair<Tensor, Tensor> max_dim(const Tensor& a, int64_t dim, bool keepdim);
std::pair<Tensor, Tensor> min_dim(const Tensor& a, int64_t dim, bool keepdim);
Tensor max_all(const Tensor& a);
Tensor min_all(const Tensor& a);
Tensor argmax(const Tensor& a, std::optional<int64_t> dim, bool keepdim);
Tensor argmin(const Tensor& a, std::optional<int64_t> dim, bool keepdim);
Tensor cumsum(const Tensor& a, int64_t dim);
// p-norm over dims (all when empty); p = 2 gives the Frobenius norm.
Tensor norm(const Tensor& a, double p, const std::vector<int64_t>& dims, bool keepdim);
Tensor var(const Tensor& a, const std::vector<int64_t>& dims, int64_t correction, bool keepdim);

// ---- linear algebra (ops/matmul.cpp) ----
Tensor matmul(const Tensor& a, const Tensor& b);  // numpy/PyTorch matmul semantics
Tensor mm(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);
Tensor mv(const Tensor& a, const Tensor& v);
Tensor dot(const Tensor& a, const Tensor& b);
// x @ w.T + bias in one pass (nn.Linear); bias may be null.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias);
Tensor addmm(const Tensor& bias, const Tensor& a, const Tensor& b);

// ---- views and shape ops (ops/shape.cpp) ----
Tensor view(const Tensor& a, Shape shape);      // RuntimeError if strides do not allow it
Tensor reshape(const Tensor& a, Shape shape);   // view when possible, else copy
Tensor as_strided(const Tensor& a, Shape shape, Shape strides, int64_t offset);
Tensor transpose(const Tensor& a, int64_t d0, int64_t d1);
Tensor t(const Tensor& a);
Tensor permute(const Tensor& a, std::vector<int64_t> dims);
Tensor expand(const Tensor& a, Shape shape);    // -1 keeps a size
Tensor squeeze(const Tensor& a, std::optional<std::vector<int64_t>> dims);
Tensor unsqueeze(const Tensor& a, int64_t dim);
Tensor flatten(const Tensor& a, int64_t start_dim, int64_t end_dim);
Tensor select(const Tensor& a, int64_t dim, int64_t index);
Tensor slice(const Tensor& a, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step);
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim);
std::vector<Tensor> split(const Tensor& a, const std::vector<int64_t>& sizes, int64_t dim);
std::vector<Tensor> split_size(const Tensor& a, int64_t size, int64_t dim);
std::vector<Tensor> chunk(const Tensor& a, int64_t chunks, int64_t dim);

// ---- indexing (ops/index.cpp) ----
// One index of a subscript, as parsed by the bindings from Python.
struct IndexItem {
  enum class Kind : unsigned char { Int, Slice, None, Ellipsis, Tensor } kind;
  int64_t integer = 0;
  std::optional<int64_t> start, stop;
  int64_t step = 1;
  Tensor tensor;  // int64 or bool
};
Tensor index(const Tensor& a, const std::vector<IndexItem>& items);
Tensor& index_put_(Tensor& a, const std::vector<IndexItem>& items, const Tensor& values);
Tensor masked_fill(const Tensor& a, const Tensor& mask, const Scalar& value);
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index);
Tensor nonzero(const Tensor& a);
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index);

// ---- random (ops/random.cpp) ----
void manual_seed(uint64_t seed);
uint64_t initial_seed();
Tensor rand(const Shape& shape, DType dtype, Device device);
Tensor randn(const Shape& shape, DType dtype, Device device);
Tensor randint(int64_t low, int64_t high, const Shape& shape, DType dtype, Device device);
Tensor& uniform_(Tensor& t, double lo, double hi);
Tensor& normal_(Tensor& t, double mean, double std);
Tensor randperm(int64_t n, DType dtype, Device device);
Tensor bernoulli_mask(const Tensor& like, double p_keep);  // 1/0 in like's dtype

// ---- CPU threads (cpu/parallel.cpp) ----
// The thread count CPU kernels start from (PyTorch's intra-op count; the
// load-aware budget may use fewer). Results never depend on it: reductions
// split by size, not by thread.
void set_num_threads(int n);
int get_num_threads();

// ---- CPU memory (cpu/allocator_cpu.cpp) ----
// Returns every idle cached block to the system (tests that measure the
// process's memory call it; training never needs to).
void empty_cpu_cache();

// ---- neural-network ops (ops/nn.cpp) ----
Tensor relu(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor softmax(const Tensor& a, int64_t dim);
Tensor log_softmax(const Tensor& a, int64_t dim);
// Mean/sum/none of -log_softmax(logits)[target] for [N, C] logits and int64 [N] targets.
enum class Reduction : unsigned char { None, Mean, Sum };
// weight: optional per-class [C]; targets equal to ignore_index count for
// nothing; label_smoothing mixes in the uniform distribution (PyTorch's).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction, const Tensor& weight = Tensor(),
                     int64_t ignore_index = -100, double label_smoothing = 0.0);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction);
Tensor dropout(const Tensor& a, double p, bool training);

// ---- convolution and padding (ops/conv.cpp) ----
// input [N, Ci, H, W] or unbatched [Ci, H, W]; weight [Co, Ci/groups, kh, kw];
// bias [Co] or null. stride/padding/dilation: one value or one per dim.
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const std::vector<int64_t>& stride,
              const std::vector<int64_t>& padding, const std::vector<int64_t>& dilation, int64_t groups);
// input [N, Ci, L] or [Ci, L]; weight [Co, Ci/groups, k].
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const std::vector<int64_t>& stride,
              const std::vector<int64_t>& padding, const std::vector<int64_t>& dilation, int64_t groups);
// padding "same" (stride 1; an odd total puts the extra element at the end)
// or "valid", for conv1d (spatial_dims 1) or conv2d (2).
Tensor conv_string_padding(const Tensor& input, const Tensor& weight, const Tensor& bias,
                           const std::vector<int64_t>& stride, const std::string& padding,
                           const std::vector<int64_t>& dilation, int64_t groups, int spatial_dims);
// Gradients (input, weight, bias; null where not needed) of a batched conv2d.
std::vector<Tensor> conv2d_backward(const Tensor& grad_out, const Tensor& input, const Tensor& weight,
                                    const Conv2dParams& p, bool need_input, bool need_weight, bool need_bias);
// F.pad's constant mode: (before, after) pairs from the last dim backwards;
// negative amounts crop.
Tensor constant_pad(const Tensor& input, const std::vector<int64_t>& pad, double value);

// ---- pooling (ops/pool.cpp) ----
// kernel/stride/padding/dilation: one value or two; an empty stride means the kernel.
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, const std::vector<int64_t>& kernel,
                                                  const std::vector<int64_t>& stride,
                                                  const std::vector<int64_t>& padding,
                                                  const std::vector<int64_t>& dilation, bool ceil_mode);
Tensor avg_pool2d(const Tensor& input, const std::vector<int64_t>& kernel, const std::vector<int64_t>& stride,
                  const std::vector<int64_t>& padding, bool ceil_mode, bool count_include_pad,
                  std::optional<int64_t> divisor_override);
Tensor adaptive_avg_pool2d(const Tensor& input, const std::vector<int64_t>& output_size);
std::pair<Tensor, Tensor> adaptive_max_pool2d(const Tensor& input, const std::vector<int64_t>& output_size);

// ---- normalization (ops/norm.cpp) ----
// PyTorch's batch_norm over an [N, C, *] input; weight, bias, running_mean
// and running_var hold C elements each and may be null. Training: batch
// statistics normalize, and the running statistics (when given) are updated
// in place, r = (1 - momentum) r + momentum stat, with the unbiased
// variance (momentum=None's cumulative average is the module's choice of
// momentum). Otherwise the running statistics normalize. Backward for the
// input, weight and bias.
Tensor batch_norm(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps);
// Normalizes over the trailing dims `normalized_shape` (biased variance),
// then the elementwise affine weight/bias of that shape (either may be null).
Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps);

// ---- sorting, scatter, repeat and sampling (ops/sort.cpp, scatter.cpp, repeat.cpp, multinomial.cpp) ----
// Stable sorts: equal elements keep their order; NaN ranks above every number.
// `stable` only names the autograd node (PyTorch's SortBackward0/1).
std::pair<Tensor, Tensor> sort(const Tensor& a, int64_t dim, bool descending, std::optional<bool> stable = {});
Tensor argsort(const Tensor& a, int64_t dim, bool descending);
// The k largest (smallest) along dim, always sorted; ties in index order.
std::pair<Tensor, Tensor> topk(const Tensor& a, int64_t k, int64_t dim, bool largest, bool sorted);
// Positions of values in the innermost dim of sorted (1-d, or matching
// values' leading dims), int64 unless out_int32.
Tensor searchsorted(const Tensor& sorted, const Tensor& values, bool right, bool out_int32);
// scatter along dim at index (int64 or int32, bounds checked): src's values,
// or a scalar; `reduce` Sum or Prod combines instead of assigning.
Tensor scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
               std::optional<ReduceOp> reduce = {});
Tensor scatter(const Tensor& self, int64_t dim, const Tensor& index, const Scalar& value,
               std::optional<ReduceOp> reduce = {});
Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);  // deterministic
Tensor& scatter_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, std::optional<ReduceOp> reduce = {});
Tensor& scatter_(Tensor& self, int64_t dim, const Tensor& index, const Scalar& value,
                 std::optional<ReduceOp> reduce = {});
Tensor& scatter_add_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
Tensor repeat(const Tensor& a, const Shape& repeats);
Tensor tile(const Tensor& a, const Shape& dims);
// dim empty: over the flattened input. output_size, when given, must be the total.
Tensor repeat_interleave(const Tensor& a, int64_t repeats, std::optional<int64_t> dim,
                         std::optional<int64_t> output_size);
Tensor repeat_interleave(const Tensor& a, const Tensor& repeats, std::optional<int64_t> dim,
                         std::optional<int64_t> output_size);
// torch.repeat_interleave(repeats): each i repeated repeats[i] times.
Tensor repeat_interleave_index(const Tensor& repeats, std::optional<int64_t> output_size);
// int64 category indices, [num_samples] or [rows, num_samples].
Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement);

}  // namespace ember
