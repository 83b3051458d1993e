// Dimension wrapping, broadcasting and its reverse (sum_to).
#include "../error.h"
#include "ops.h"

namespace ember {

int64_t wrap_dim(int64_t dim, int64_t ndim) {
  int64_t n = ndim == 0 ? 1 : ndim;  // a 0-d tensor accepts dim 0 and -1, as in PyTorch
  if (dim < -n || dim >= n) {
    throw IndexError(str("Dimension out of range (expected to be in range of [", -n, ", ", n - 1, "], but got ",
                         dim, ")"));
  }
  return dim < 0 ? dim + n : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  if (a == b) return a;
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1) {
      throw Error(str("The size of tensor a (", da, ") must match the size of tensor b (", db,
                      ") at non-singleton dimension ", i, ": shapes ", shape_str(a), " and ", shape_str(b),
                      " cannot be broadcast"));
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor expand_to(const Tensor& t, const Shape& shape) {
  if (t->shape == shape) return t;
  size_t n = shape.size(), k = t->shape.size();
  Shape strides(n, 0);
  for (size_t i = 0; i < k; ++i) {
    size_t j = n - k + i;
    strides[j] = t->shape[i] == 1 && shape[j] != 1 ? 0 : t->strides[i];
  }
  Tensor v = make_view(t, shape, strides, t->offset);
  return v;
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad->shape == shape) return grad;
  const Shape& g = grad->shape;
  size_t lead = g.size() - shape.size();
  std::vector<int64_t> dims;
  for (size_t i = 0; i < g.size(); ++i) {
    if (i < lead || (shape[i - lead] == 1 && g[i] != 1)) dims.push_back(static_cast<int64_t>(i));
  }
  Tensor r = dims.empty() ? grad : sum(grad, dims, true);
  return r->shape == shape ? r : reshape(r, shape);
}

void check_no_internal_overlap(const Tensor& t) {
  // Only the certain case (a stride-0 dim of size > 1), as PyTorch's check.
  for (int64_t d = 0; d < t->ndim(); ++d)
    EMBER_CHECK(!(t->strides[d] == 0 && t->shape[d] > 1), Error,
                "unsupported operation: more than one element of the written-to tensor refers to a single memory "
                "location. Please clone() the tensor before performing the operation.");
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  if (a->device() != b->device()) {
    throw Error(str("Expected all tensors to be on the same device, but found at least two devices, ",
                    a->device().str(), " and ", b->device().str(), "! (when checking arguments for ", op, ")"));
  }
}

}  // namespace ember
