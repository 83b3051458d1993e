// scatter, scatter_add and their in-place forms. Like all indexing they
// reduce to element offsets: the offset of every position of `index` in
// self is index * stride[dim] plus an arange times the stride of every
// other dim, computed with ordinary tensor arithmetic. A plain scatter is
// one `put`; the reductions (scatter_add, reduce="add"/"multiply") are one
// `put_reduce`, which combines repeated indices in index order on every
// device, so scatter_add is deterministic (no floating-point atomics).
#include "../autograd/node.h"
#include "../error.h"
#include "ops.h"

namespace ember {

namespace {

// PyTorch views a 0-d tensor as 1-d of size 1 in scatter's shape rules.
int64_t nonempty_ndim(const Tensor& t) { return t->ndim() == 0 ? 1 : t->ndim(); }
int64_t nonempty_size(const Tensor& t, int64_t d) { return t->ndim() == 0 ? 1 : t->shape[static_cast<size_t>(d)]; }
Tensor as_1d(const Tensor& t) { return t->ndim() == 0 ? as_strided(t, {1}, {1}, t->offset) : t; }

// Checks scatter's arguments as PyTorch does and returns the wrapped dim and
// the index as int64 (bounds checked: a bad index is an error naming it,
// never a write outside self).
std::pair<int64_t, Tensor> check_scatter(const char* op, const Tensor& self, int64_t dim, const Tensor& index,
                                         const Tensor* src) {
  dim = wrap_dim(dim, self->ndim());
  if (src) wrap_dim(dim, (*src)->ndim());  // as PyTorch: a dim src lacks is an IndexError
  EMBER_CHECK(index->dtype == DType::Int64 || index->dtype == DType::Int32, Error, op,
              "(): Expected dtype int32/int64 for index");
  check_same_device(self, index, op);
  if (src) check_same_device(self, *src, op);
  EMBER_CHECK(nonempty_ndim(index) == nonempty_ndim(self), Error,
              "Index tensor must have the same number of dimensions as self tensor");
  if (src)
    EMBER_CHECK(nonempty_ndim(index) == nonempty_ndim(*src), Error,
                "Index tensor must have the same number of dimensions as src tensor");
  bool fits = true;
  for (int64_t d = 0; d < nonempty_ndim(index); ++d) {
    const int64_t n = nonempty_size(index, d);
    if ((d != dim && n > nonempty_size(self, d)) || (src && n > nonempty_size(*src, d))) fits = false;
  }
  if (!fits) {
    if (src)
      throw Error(str("Expected index ", shape_str(index->shape), " to be no larger than self ",
                      shape_str(self->shape), " apart from dimension ", dim, " and to be no larger size than src ",
                      shape_str((*src)->shape)));
    throw Error(str("Expected index ", shape_str(index->shape), " to be no larger than self ",
                    shape_str(self->shape), " apart from dimension ", dim));
  }
  if (src)
    EMBER_CHECK((*src)->dtype == self->dtype, Error, op, "(): Expected self.dtype to be equal to src.dtype");
  NoGradGuard no_grad;
  Tensor idx = index->dtype == DType::Int64 ? detach(index) : to_dtype(index, DType::Int64);
  if (idx->numel()) {
    const int64_t size = nonempty_size(self, dim);
    const int64_t lo = item(min_all(idx)).i, hi = item(max_all(idx)).i;
    if (lo < 0 || hi >= size)
      throw Error(str("index ", hi >= size ? hi : lo, " is out of bounds for dimension ", dim, " with size ", size));
  }
  return {dim, idx};
}

// Offsets into `dst` (ndim >= 1, any strides) of every position of `idx`.
Tensor scatter_offsets(const Tensor& dst, int64_t dim, const Tensor& idx) {
  const Device dev = dst->device();
  const int64_t nd = dst->ndim();
  const int64_t dim_stride = dst->strides[static_cast<size_t>(dim)];
  Tensor offs = dim_stride == 1 ? idx : mul(idx, scalar_tensor(Scalar(dim_stride), DType::Int64, dev));
  for (int64_t d = 0; d < nd; ++d) {
    if (d == dim || idx->shape[static_cast<size_t>(d)] == 1) continue;  // a size-1 dim adds 0
    Shape s(static_cast<size_t>(nd), 1);
    s[static_cast<size_t>(d)] = idx->shape[static_cast<size_t>(d)];
    Tensor r = arange(0, static_cast<double>(s[static_cast<size_t>(d)]), 1, DType::Int64, dev);
    r = mul(r, scalar_tensor(Scalar(dst->strides[static_cast<size_t>(d)]), DType::Int64, dev));
    offs = add(offs, reshape(r, s));
  }
  return contiguous(offs);
}

// The part of src that index addresses (index's shape, src's strides), as
// a contiguous tensor that shares no memory with `dst`.
Tensor src_window(const Tensor& src, const Shape& index_shape, const Tensor& dst) {
  Tensor w = as_1d(src);
  w = as_strided(w, index_shape, Shape(w->strides.begin(), w->strides.begin() + index_shape.size()), w->offset);
  if (w->storage == dst->storage || !w->is_contiguous()) w = clone(w);
  return w;
}

// Writes values (index-shaped, dst's dtype, contiguous) into dst at idx
// along dim: assigned, or combined by `reduce`.
void scatter_into(const Tensor& dst_in, int64_t dim, const Tensor& idx_in, const Tensor& values_in,
                  std::optional<ReduceOp> reduce) {
  NoGradGuard no_grad;
  if (idx_in->numel() == 0) return;
  Tensor dst = as_1d(dst_in);
  Tensor idx = idx_in->ndim() == 0 ? reshape(idx_in, {1}) : idx_in;
  Tensor values = values_in->ndim() == 0 ? reshape(values_in, {1}) : values_in;
  if (!reduce) {
    backend(dst->device()).put(dst, scatter_offsets(dst, dim, idx), values, false);
    return;
  }
  if (dst->dtype == DType::Float16 || dst->dtype == DType::BFloat16) {
    // Storage types: combine in float32, then store back once.
    Tensor wide = to_dtype(dst, DType::Float32);
    backend(dst->device()).put_reduce(*reduce, wide, scatter_offsets(wide, dim, idx),
                                      contiguous(to_dtype(values, DType::Float32)));
    backend(dst->device()).copy(dst, wide);
    return;
  }
  backend(dst->device()).put_reduce(*reduce, dst, scatter_offsets(dst, dim, idx), values);
}

const char* reduce_name(std::optional<ReduceOp> reduce) {
  return !reduce ? "none" : *reduce == ReduceOp::Sum ? "add" : "multiply";
}

// The out-of-place scatter family. `src` null means the scalar `value`;
// `add` is scatter_add (reduce Sum with scatter_add's gradient).
Tensor scatter_impl(const char* op, const Tensor& self, int64_t dim_in, const Tensor& index, const Tensor* src,
                    const Scalar& value, std::optional<ReduceOp> reduce, bool add) {
  auto [dim, idx] = check_scatter(op, self, dim_in, index, src);
  Tensor out;
  {
    NoGradGuard no_grad;
    out = clone(self);
    Tensor values = src ? src_window(*src, idx->shape, out) : full(idx->shape, value, self->dtype, self->device());
    scatter_into(out, dim, idx, values, add ? std::optional<ReduceOp>(ReduceOp::Sum) : reduce);
  }
  const bool record_src = src && (*src)->requires_grad();
  if (!should_record({&self, src ? src : &self}) || !is_floating(self->dtype)) return out;
  Shape src_shape = src ? (*src)->shape : Shape{};
  SavedTensor saved_idx(idx, false);
  const int64_t d = dim;
  if (reduce && !add) {
    // As PyTorch: the legacy reduce= overloads have no derivative formula.
    record("ScatterBackward0", src ? std::vector<Tensor>{self, *src} : std::vector<Tensor>{self}, out,
           [r = reduce_name(reduce)](std::vector<Tensor>&) -> std::vector<Tensor> {
             throw Error(str("derivative for aten::scatter with reduce='", r,
                             "' is not implemented (use scatter_add for a differentiable sum)"));
           });
    return out;
  }
  // Gradient of src: the upstream gradient at the scattered positions,
  // placed in src's shape (positions index did not address get zero).
  auto grad_src = [d, src_shape](const Tensor& g, const Tensor& i) {
    Tensor picked = gather(g->ndim() == 0 ? reshape(g, {1}) : g, d, i->ndim() == 0 ? reshape(i, {1}) : i);
    if (picked->shape == src_shape) return picked;
    if (src_shape.empty()) return reshape(picked, {});
    Tensor z = zeros(src_shape, g->dtype, g->device());
    Tensor w = as_strided(z, picked->shape, Shape(z->strides.begin(), z->strides.begin() + picked->ndim()), 0);
    NoGradGuard no_grad;
    backend(z->device()).copy(w, picked);
    return z;
  };
  if (add) {
    record("ScatterAddBackward0", {self, *src}, out, [saved_idx, grad_src, record_src](std::vector<Tensor>& g) {
      return std::vector<Tensor>{g[0], record_src ? grad_src(g[0], saved_idx.unpack(nullptr)) : Tensor()};
    });
  } else if (src) {
    record("ScatterBackward0", {self, *src}, out, [saved_idx, grad_src, record_src, d](std::vector<Tensor>& g) {
      Tensor i = saved_idx.unpack(nullptr);
      return std::vector<Tensor>{scatter(g[0], d, i, Scalar(0.0)),
                                 record_src ? grad_src(g[0], i) : Tensor()};
    });
  } else {
    record("ScatterBackward1", {self}, out, [saved_idx, d](std::vector<Tensor>& g) {
      return std::vector<Tensor>{scatter(g[0], d, saved_idx.unpack(nullptr), Scalar(0.0))};
    });
  }
  return out;
}

// The in-place forms: straight into self when nothing is recorded; else the
// out-of-place result is copied back and self takes over its history.
Tensor& scatter_inplace(const char* op, Tensor& self, int64_t dim_in, const Tensor& index, const Tensor* src,
                        const Scalar& value, std::optional<ReduceOp> reduce, bool add) {
  check_inplace(self);
  check_no_internal_overlap(self);
  if (should_record({&self, src ? src : &self})) {
    Tensor result = scatter_impl(op, self, dim_in, index, src, value, reduce, add);
    {
      NoGradGuard no_grad;
      if (self->numel()) backend(self->device()).copy(self, result);
    }
    self->bump_version();
    adopt_inplace_history(self, result);
    return self;
  }
  auto [dim, idx] = check_scatter(op, self, dim_in, index, src);
  {
    NoGradGuard no_grad;
    Tensor values = src ? src_window(*src, idx->shape, self) : full(idx->shape, value, self->dtype, self->device());
    scatter_into(self, dim, idx, values, add ? std::optional<ReduceOp>(ReduceOp::Sum) : reduce);
  }
  self->bump_version();
  return self;
}

}  // namespace

Tensor scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
               std::optional<ReduceOp> reduce) {
  return scatter_impl("scatter", self, dim, index, &src, Scalar(0.0), reduce, false);
}
Tensor scatter(const Tensor& self, int64_t dim, const Tensor& index, const Scalar& value,
               std::optional<ReduceOp> reduce) {
  return scatter_impl("scatter", self, dim, index, nullptr, value, reduce, false);
}
Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_impl("scatter", self, dim, index, &src, Scalar(0.0), std::nullopt, true);
}
Tensor& scatter_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, std::optional<ReduceOp> reduce) {
  return scatter_inplace("scatter", self, dim, index, &src, Scalar(0.0), reduce, false);
}
Tensor& scatter_(Tensor& self, int64_t dim, const Tensor& index, const Scalar& value, std::optional<ReduceOp> reduce) {
  return scatter_inplace("scatter", self, dim, index, nullptr, value, reduce, false);
}
Tensor& scatter_add_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_inplace("scatter", self, dim, index, &src, Scalar(0.0), std::nullopt, true);
}

}  // namespace ember
