// Sorting and selection: sort, argsort, topk and searchsorted. One backend
// primitive (a stable sort along the last dim of a contiguous [outer, n]
// tensor) serves the first three: the op layer moves `dim` last, makes the
// input contiguous and moves the results back. Gradients flow to the input
// through a scatter of the upstream gradient at the returned indices.
#include "../autograd/node.h"
#include "../error.h"
#include "ops.h"

namespace ember {

namespace {

// 16-bit floats are storage types: sorted in float32 (exactly representable).
DType sort_compute_dtype(DType d) { return d == DType::Float16 || d == DType::BFloat16 ? DType::Float32 : d; }

// Stable sort of `a` along `dim` (wrapped), without history: contiguous
// values and int64 indices of a's shape.
std::pair<Tensor, Tensor> sort_no_grad(const Tensor& a, int64_t dim, bool descending) {
  NoGradGuard no_grad;
  if (a->ndim() == 0) return {clone(a), zeros({}, DType::Int64, a->device())};
  const int64_t last = a->ndim() - 1;
  Tensor moved = contiguous(transpose(a, dim, last));
  DType compute = sort_compute_dtype(a->dtype);
  if (moved->dtype != compute) moved = to_dtype(moved, compute);
  Tensor values = make_empty(moved->shape, compute, a->device());
  Tensor indices = make_empty(moved->shape, DType::Int64, a->device());
  const int64_t n = moved->shape[static_cast<size_t>(last)];
  if (moved->numel()) {
    const Shape rows{moved->numel() / n, n};
    backend(a->device()).sort(view(values, rows), view(indices, rows), view(moved, rows), descending);
  }
  if (values->dtype != a->dtype) values = to_dtype(values, a->dtype);
  if (dim != last) {
    values = contiguous(transpose(values, dim, last));
    indices = contiguous(transpose(indices, dim, last));
  }
  return {values, indices};
}

// The backward of sort and topk: the gradient of each selected element goes
// back to where it came from (indices are distinct along `dim`).
void record_selection(const char* name, const Tensor& a, int64_t dim, const Tensor& values, const Tensor& indices) {
  Shape shape = a->shape;
  DType dtype = a->dtype;
  SavedTensor saved_indices(indices, false);
  record(name, {a}, values, [shape, dtype, dim, saved_indices](std::vector<Tensor>& g) {
    Tensor idx = saved_indices.unpack(nullptr);
    Tensor grad = zeros(shape, g[0]->dtype, g[0]->device());
    return std::vector<Tensor>{to_dtype(scatter(grad, dim, idx, g[0]), dtype)};
  });
}

void check_sortable(const Tensor& a, const char* op) {
  EMBER_CHECK(a->numel() <= (int64_t(1) << 62), Error, op, "(): tensor too large");
}

}  // namespace

std::pair<Tensor, Tensor> sort(const Tensor& a, int64_t dim, bool descending, std::optional<bool> stable) {
  check_sortable(a, "sort");
  dim = wrap_dim(dim, a->ndim());
  auto [values, indices] = sort_no_grad(a, dim, descending);
  // PyTorch names the node after the overload: sort(stable=...) is SortBackward1.
  if (should_record({&a}) && is_floating(a->dtype))
    record_selection(stable ? "SortBackward1" : "SortBackward0", a, dim, values, indices);
  return {values, indices};
}

Tensor argsort(const Tensor& a, int64_t dim, bool descending) {
  check_sortable(a, "argsort");
  dim = wrap_dim(dim, a->ndim());
  return sort_no_grad(a, dim, descending).second;
}

std::pair<Tensor, Tensor> topk(const Tensor& a, int64_t k, int64_t dim, bool largest, bool sorted) {
  check_sortable(a, "topk");
  dim = wrap_dim(dim, a->ndim());
  const int64_t size = a->ndim() == 0 ? 1 : a->shape[static_cast<size_t>(dim)];
  EMBER_CHECK(k >= 0 && k <= size, Error, "selected index k out of range (k = ", k, ", size of dimension ", dim,
              " = ", size, ")");
  // The first k of a stable sort: ties keep their original order, and
  // `sorted=False` (any order allowed) returns them sorted too.
  Tensor values, indices;
  if (a->ndim() > 0 && k > 0 && k < size) {
    NoGradGuard no_grad;
    const int64_t last = a->ndim() - 1;
    Tensor moved = contiguous(transpose(a, dim, last));
    DType compute = sort_compute_dtype(a->dtype);
    if (moved->dtype != compute) moved = to_dtype(moved, compute);
    Shape out_shape = moved->shape;
    out_shape[static_cast<size_t>(last)] = k;
    values = make_empty(out_shape, compute, a->device());
    indices = make_empty(out_shape, DType::Int64, a->device());
    if (values->numel()) {
      const int64_t outer = values->numel() / k;
      backend(a->device()).topk(view(values, {outer, k}), view(indices, {outer, k}), view(moved, {outer, size}), k,
                                largest);
    }
    if (values->dtype != a->dtype) values = to_dtype(values, a->dtype);
    if (dim != last) {
      values = contiguous(transpose(values, dim, last));
      indices = contiguous(transpose(indices, dim, last));
    }
  } else {
    auto sorted_pair = sort_no_grad(a, dim, largest);
    values = sorted_pair.first;
    indices = sorted_pair.second;
    if (k == 0) {
      NoGradGuard no_grad;
      values = a->ndim() == 0 ? reshape(values, {0}) : contiguous(slice(values, dim, 0, 0, 1));
      indices = a->ndim() == 0 ? reshape(indices, {0}) : contiguous(slice(indices, dim, 0, 0, 1));
    }
  }
  (void)sorted;
  if (should_record({&a}) && is_floating(a->dtype) && values->numel() == indices->numel())
    record_selection("TopkBackward0", a, dim, values, indices);
  return {values, indices};
}

Tensor searchsorted(const Tensor& sorted_in, const Tensor& values_in, bool right, bool out_int32) {
  check_same_device(sorted_in, values_in, "searchsorted");
  const int64_t nd = sorted_in->ndim();
  EMBER_CHECK(nd >= 1, Error, "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
              "dimensions of boundaries tensor and input value tensor must match, but we got boundaries tensor ",
              shape_str(sorted_in->shape), " and input value tensor ", shape_str(values_in->shape));
  if (nd > 1) {
    bool leading_match = values_in->ndim() == nd;
    for (int64_t d = 0; leading_match && d + 1 < nd; ++d) leading_match = sorted_in->shape[d] == values_in->shape[d];
    EMBER_CHECK(leading_match, Error, "torch.searchsorted(): boundaries tensor should be 1 dimension or the first "
                "N-1 dimensions of boundaries tensor and input value tensor must match, but we got boundaries tensor ",
                shape_str(sorted_in->shape), " and input value tensor ", shape_str(values_in->shape));
  }
  NoGradGuard no_grad;
  DType compute = sort_compute_dtype(promote_types(sorted_in->dtype, values_in->dtype));
  EMBER_CHECK(compute != DType::Bool, Error, "torch.searchsorted(): bool tensors are not supported");
  Tensor out = zeros(values_in->shape, DType::Int64, values_in->device());
  const int64_t n = sorted_in->shape.back();
  if (out->numel() && n > 0) {
    Tensor s = contiguous(to_dtype(sorted_in, compute));
    Tensor v = contiguous(to_dtype(values_in, compute));
    Shape vrows = nd == 1 ? Shape{1, v->numel()} : Shape{v->numel() / v->shape.back(), v->shape.back()};
    Shape srows = nd == 1 ? Shape{1, n} : Shape{s->numel() / n, n};
    Tensor o = view(out, vrows);
    backend(out->device()).searchsorted(o, view(s, srows), view(v, vrows), right);
  }
  return out_int32 ? to_dtype(out, DType::Int32) : out;
}

}  // namespace ember
