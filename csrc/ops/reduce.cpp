// Reductions: sum, mean, prod, max/min (values and indices), any/all,
// cumsum, norm and var, with dim lists, keepdim and their backward formulas.
#include <cmath>

#include "../autograd/node.h"
#include "../error.h"
#include "ops.h"

namespace ember {

namespace {

std::vector<bool> dim_mask(const std::vector<int64_t>& dims, int64_t ndim) {
  std::vector<bool> mask(static_cast<size_t>(ndim), dims.empty());
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, ndim);
    if (ndim == 0) continue;
    EMBER_CHECK(!mask[w] || dims.empty(), Error, "dim ", w, " appears multiple times in the list of dims");
    mask[w] = true;
  }
  return mask;
}

Shape kept_shape(const Shape& shape, const std::vector<bool>& mask, bool keepdim) {
  Shape out;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (!mask[d]) out.push_back(shape[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

int64_t reduced_count(const Shape& shape, const std::vector<bool>& mask) {
  int64_t n = 1;
  for (size_t d = 0; d < shape.size(); ++d)
    if (mask[d]) n *= shape[d];
  return n;
}

// Runs one backend reduction; `in` already has the compute dtype.
Tensor run_reduce(ReduceOp op, const Tensor& in, const std::vector<bool>& mask, bool keepdim, DType out_dtype) {
  Shape keep = kept_shape(in->shape, mask, true);
  Tensor out = make_empty(keep, out_dtype, in->device());
  backend(in->device()).reduce(op, out, in);
  if (!keepdim) out = make_view(out, kept_shape(in->shape, mask, false), contiguous_strides(kept_shape(in->shape, mask, false)), 0);
  out->view_base.reset();
  return out;
}

// Re-inserts reduced dims (size 1) into a gradient and expands it back.
Tensor expand_grad(const Tensor& g, const Shape& in_shape, const std::vector<bool>& mask, bool keepdim) {
  Tensor r = g;
  if (!keepdim) r = reshape(g, kept_shape(in_shape, mask, true));
  return expand(r, in_shape);
}

DType sum_dtype(DType t) { return is_floating(t) ? t : DType::Int64; }

}  // namespace

Tensor sum(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim, std::optional<DType> dtype) {
  auto mask = dim_mask(dims, a->ndim());
  DType out_dtype = dtype ? *dtype : sum_dtype(a->dtype);
  DType compute = (out_dtype == DType::Float16 || out_dtype == DType::BFloat16) ? DType::Float32 : out_dtype;
  Tensor out;
  {
    NoGradGuard no_grad;
    out = run_reduce(ReduceOp::Sum, to_dtype(a, compute), mask, keepdim, compute);
    out = to_dtype(out, out_dtype);
  }
  if (should_record({&a}) && is_floating(out_dtype)) {
    Shape shape = a->shape;
    DType da = a->dtype;
    record(dims.empty() ? "SumBackward0" : "SumBackward1", {a}, out, [shape, mask, keepdim, da](std::vector<Tensor>& g) {
      return std::vector<Tensor>{to_dtype(expand_grad(g[0], shape, mask, keepdim), da)};
    });
  }
  return out;
}

Tensor mean(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  EMBER_CHECK(is_floating(a->dtype), Error,
              "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. "
              "Got: ", dtype_name(a->dtype));
  auto mask = dim_mask(dims, a->ndim());
  double count = static_cast<double>(reduced_count(a->shape, mask));
  Tensor out;
  {
    NoGradGuard no_grad;
    out = mul_scalar(sum(a, dims, keepdim), count == 0 ? NAN : 1.0 / count);
  }
  if (should_record({&a})) {
    Shape shape = a->shape;
    record(dims.empty() ? "MeanBackward0" : "MeanBackward1", {a}, out, [shape, mask, keepdim, count](std::vector<Tensor>& g) {
      return std::vector<Tensor>{expand_grad(mul_scalar(g[0], 1.0 / count), shape, mask, keepdim)};
    });
  }
  return out;
}

Tensor prod(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  auto mask = dim_mask(dims, a->ndim());
  DType out_dtype = sum_dtype(a->dtype);
  DType compute = (out_dtype == DType::Float16 || out_dtype == DType::BFloat16) ? DType::Float32 : out_dtype;
  Tensor out;
  {
    NoGradGuard no_grad;
    out = to_dtype(run_reduce(ReduceOp::Prod, to_dtype(a, compute), mask, keepdim, compute), out_dtype);
  }
  if (should_record({&a})) {
    SavedTensor sa(a, false), so(out, true);
    Shape shape = a->shape;
    record(dims.empty() ? "ProdBackward0" : "ProdBackward1", {a}, out, [sa, so, shape, mask, keepdim](std::vector<Tensor>& g) {
      // prod/x where x != 0; with zeros, the product of the other elements.
      Tensor x = sa.unpack(nullptr), y = so.unpack(nullptr);
      Tensor gy = expand_grad(mul(g[0], y), shape, mask, keepdim);
      Tensor zero = zeros({}, x->dtype, x->device());
      Tensor is_zero = binary(BinaryOp::Eq, x, zero);
      Tensor safe = where(is_zero, ones({}, x->dtype, x->device()), x);
      Tensor grad = div(gy, safe);
      if (item(any(is_zero, {}, false)).i) {
        // Recompute products with each zero replaced by one.
        std::vector<int64_t> rdims;
        for (size_t d = 0; d < mask.size(); ++d)
          if (mask[d]) rdims.push_back(static_cast<int64_t>(d));
        Tensor others = expand_grad(prod(safe, rdims, true), shape, mask, true);
        Tensor zeros_count = expand_grad(sum(to_dtype(is_zero, DType::Int64), rdims, true), shape, mask, true);
        Tensor one = scalar_tensor(Scalar(int64_t(1)), DType::Int64, x->device());
        Tensor single = binary(BinaryOp::LogicalAnd, is_zero, binary(BinaryOp::Eq, zeros_count, one));
        Tensor gexp = expand_grad(g[0], shape, mask, keepdim);
        grad = where(is_zero, where(single, mul(gexp, others), zero), grad);
      }
      return std::vector<Tensor>{grad};
    });
  }
  return out;
}

namespace {
Tensor extremum(ReduceOp op, const Tensor& a, const std::vector<int64_t>& dims, bool keepdim, const char* name) {
  auto mask = dim_mask(dims, a->ndim());
  // As PyTorch: a full reduction of an empty tensor is a RuntimeError, an
  // empty reduced dim an IndexError.
  EMBER_CHECK(!dims.empty() || a->numel() > 0, Error, name, "(): Expected reduction dim to be specified for "
              "input.numel() == 0. Specify the reduction dim with the 'dim' argument.");
  EMBER_CHECK(a->numel() > 0 || reduced_count(a->shape, mask) > 0, IndexError,
              name, "(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim "
              "with the 'dim' argument.");
  DType compute = (a->dtype == DType::Float16 || a->dtype == DType::BFloat16) ? DType::Float32 : a->dtype;
  if (compute == DType::Bool) compute = DType::UInt8;
  Tensor out;
  {
    NoGradGuard no_grad;
    out = to_dtype(run_reduce(op, to_dtype(a, compute), mask, keepdim, compute), a->dtype);
  }
  if (should_record({&a})) {
    SavedTensor sa(a, false), so(out, true);
    Shape shape = a->shape;
    const char* node = dims.empty() ? (op == ReduceOp::Max ? "MaxBackward1" : "MinBackward1")
                                    : (op == ReduceOp::Max ? "AmaxBackward0" : "AminBackward0");
    record(node, {a}, out, [sa, so, shape, mask, keepdim](std::vector<Tensor>& g) {
      // Ties share the gradient evenly, as in PyTorch.
      Tensor x = sa.unpack(nullptr), y = so.unpack(nullptr);
      Tensor hit = to_dtype(binary(BinaryOp::Eq, x, expand_grad(y, shape, mask, keepdim)), x->dtype);
      std::vector<int64_t> rdims;
      for (size_t d = 0; d < mask.size(); ++d)
        if (mask[d]) rdims.push_back(static_cast<int64_t>(d));
      Tensor count = sum(hit, rdims, true);
      Tensor share = div(expand_grad(g[0], shape, mask, keepdim), expand(count, shape));
      return std::vector<Tensor>{mul(share, hit)};
    });
  }
  return out;
}

std::pair<Tensor, Tensor> extremum_dim(bool is_max, const Tensor& a, int64_t dim_in, bool keepdim) {
  int64_t nd = a->ndim();
  int64_t dim = wrap_dim(dim_in, nd);
  Tensor x = nd == 0 ? reshape(a, {1}) : a;
  int64_t n = x->shape[dim];
  EMBER_CHECK(n > 0, IndexError, is_max ? "max" : "min", "(): Expected reduction dim ", dim,
              " to have non-zero size.");
  Tensor values, indices;
  {
    NoGradGuard no_grad;
    DType compute = (a->dtype == DType::Float16 || a->dtype == DType::BFloat16) ? DType::Float32 : a->dtype;
    // Move `dim` last, make rows contiguous, reduce each row.
    Tensor moved = contiguous(to_dtype(transpose(x, dim, x->ndim() - 1), compute));
    int64_t outer = moved->numel() / n;
    Tensor rows = reshape(moved, {outer, n});
    Shape kshape = x->shape;
    kshape[dim] = 1;
    values = make_empty({outer}, compute, a->device());
    indices = make_empty({outer}, DType::Int64, a->device());
    if (outer) backend(a->device()).arg_reduce(is_max, values, indices, rows);
    // Rows are ordered like the moved tensor: shape of x with dim swapped to the end.
    Shape moved_shape = moved->shape;
    moved_shape.back() = 1;
    values = transpose(reshape(values, moved_shape), dim, x->ndim() - 1);
    indices = transpose(reshape(indices, moved_shape), dim, x->ndim() - 1);
    values = contiguous(to_dtype(values, a->dtype));
    indices = contiguous(indices);
    if (!keepdim || nd == 0) {
      values = nd == 0 ? reshape(values, {}) : squeeze(values, std::vector<int64_t>{dim});
      indices = nd == 0 ? reshape(indices, {}) : squeeze(indices, std::vector<int64_t>{dim});
    }
    values = make_alias(values);
    values->view_base.reset();
    indices = make_alias(indices);
    indices->view_base.reset();
  }
  if (should_record({&a})) {
    SavedTensor si(indices, false);
    Shape shape = a->shape;
    record(is_max ? "MaxBackward0" : "MinBackward0", {a}, values, [si, shape, dim, keepdim, nd](std::vector<Tensor>& g) {
      Tensor idx = si.unpack(nullptr);
      if (nd == 0) return std::vector<Tensor>{reshape(g[0], shape)};
      Tensor gi = keepdim ? g[0] : unsqueeze(g[0], dim);
      Tensor ii = keepdim ? idx : unsqueeze(idx, dim);
      // One-hot of the chosen index along `dim`.
      Shape pos_shape(shape.size(), 1);
      pos_shape[dim] = shape[dim];
      Tensor pos = reshape(arange(0, static_cast<double>(shape[dim]), 1, DType::Int64, g[0]->device()), pos_shape);
      Tensor hit = binary(BinaryOp::Eq, pos, ii);
      return std::vector<Tensor>{where(hit, expand(gi, shape), zeros({}, g[0]->dtype, g[0]->device()))};
    });
  }
  return {values, indices};
}
}  // namespace

Tensor amax(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  return extremum(ReduceOp::Max, a, dims, keepdim, "amax");
}
Tensor amin(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  return extremum(ReduceOp::Min, a, dims, keepdim, "amin");
}
Tensor max_all(const Tensor& a) { return extremum(ReduceOp::Max, a, {}, false, "max"); }
Tensor min_all(const Tensor& a) { return extremum(ReduceOp::Min, a, {}, false, "min"); }
std::pair<Tensor, Tensor> max_dim(const Tensor& a, int64_t dim, bool keepdim) { return extremum_dim(true, a, dim, keepdim); }
std::pair<Tensor, Tensor> min_dim(const Tensor& a, int64_t dim, bool keepdim) { return extremum_dim(false, a, dim, keepdim); }

Tensor argmax(const Tensor& a, std::optional<int64_t> dim, bool keepdim) {
  if (!dim) {
    EMBER_CHECK(a->numel() > 0, IndexError, "argmax(): Expected reduction dim to be specified for input.numel() == 0.");
    return max_dim(reshape(detach(a), {a->numel()}), 0, false).second;
  }
  return max_dim(detach(a), *dim, keepdim).second;
}

Tensor argmin(const Tensor& a, std::optional<int64_t> dim, bool keepdim) {
  if (!dim) {
    EMBER_CHECK(a->numel() > 0, IndexError, "argmin(): Expected reduction dim to be specified for input.numel() == 0.");
    return min_dim(reshape(detach(a), {a->numel()}), 0, false).second;
  }
  return min_dim(detach(a), *dim, keepdim).second;
}

Tensor any(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  NoGradGuard no_grad;
  return run_reduce(ReduceOp::Any, to_dtype(a, DType::Bool), dim_mask(dims, a->ndim()), keepdim, DType::Bool);
}

Tensor all(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  NoGradGuard no_grad;
  return run_reduce(ReduceOp::All, to_dtype(a, DType::Bool), dim_mask(dims, a->ndim()), keepdim, DType::Bool);
}

Tensor cumsum(const Tensor& a, int64_t dim_in) {
  int64_t dim = wrap_dim(dim_in, a->ndim());
  DType out_dtype = sum_dtype(a->dtype);
  DType compute = (out_dtype == DType::Float16 || out_dtype == DType::BFloat16) ? DType::Float32 : out_dtype;
  Tensor out;
  {
    NoGradGuard no_grad;
    Tensor in = to_dtype(a, compute);
    if (in->ndim() == 0) in = reshape(in, {1});
    out = make_empty(in->shape, compute, a->device());
    if (out->numel()) backend(a->device()).cumsum(out, in, dim);
    out = to_dtype(reshape(out, a->shape), out_dtype);
  }
  if (should_record({&a})) {
    record("CumsumBackward0", {a}, out, [dim](std::vector<Tensor>& g) {
      // Reverse cumulative sum: total - prefix + own term.
      if (g[0]->ndim() == 0) return std::vector<Tensor>{g[0]};
      Tensor total = sum(g[0], {dim}, true);
      return std::vector<Tensor>{add(sub(total, cumsum(g[0], dim)), g[0])};
    });
  }
  return out;
}

Tensor norm(const Tensor& a, double p, const std::vector<int64_t>& dims, bool keepdim) {
  EMBER_CHECK(is_floating(a->dtype), Error,
              "linalg.vector_norm: Expected a floating point or complex tensor as input. Got ", dtype_name(a->dtype));
  auto mask = dim_mask(dims, a->ndim());
  Tensor out;
  {
    NoGradGuard no_grad;
    Tensor x = unary(UnaryOp::Abs, a);
    if (std::isinf(p)) {
      out = p > 0 ? amax(x, dims, keepdim) : amin(x, dims, keepdim);
    } else if (p == 0) {
      out = sum(to_dtype(binary(BinaryOp::Ne, x, zeros({}, x->dtype, x->device())), a->dtype), dims, keepdim);
    } else if (p == 1) {
      out = sum(x, dims, keepdim);
    } else if (p == 2) {
      out = unary(UnaryOp::Sqrt, sum(mul(x, x), dims, keepdim));
    } else {
      out = pow_scalar(sum(pow_scalar(x, p), dims, keepdim), 1.0 / p);
    }
  }
  if (should_record({&a})) {
    SavedTensor sa(a, false), so(out, true);
    Shape shape = a->shape;
    record("LinalgVectorNormBackward0", {a}, out, [sa, so, shape, mask, keepdim, p](std::vector<Tensor>& g) {
      Tensor x = sa.unpack(nullptr), y = so.unpack(nullptr);
      Tensor ge = expand_grad(g[0], shape, mask, keepdim), ye = expand_grad(y, shape, mask, keepdim);
      Tensor zero = zeros({}, x->dtype, x->device());
      Tensor grad;
      if (p == 1) {
        grad = mul(ge, unary(UnaryOp::Sign, x));
      } else if (p == 2) {
        grad = where(binary(BinaryOp::Eq, ye, zero), zero, div(mul(ge, x), ye));
      } else if (std::isinf(p)) {
        Tensor hit = to_dtype(binary(BinaryOp::Eq, unary(UnaryOp::Abs, x), ye), x->dtype);
        std::vector<int64_t> rdims;
        for (size_t d = 0; d < mask.size(); ++d)
          if (mask[d]) rdims.push_back(static_cast<int64_t>(d));
        Tensor count = expand(sum(hit, rdims, true), shape);
        grad = div(mul(mul(ge, unary(UnaryOp::Sign, x)), hit), count);
      } else if (p == 0) {
        grad = mul_scalar(x, 0.0);
      } else {
        // g * x |x|^(p-2) / ||x||^(p-1)
        Tensor ax = unary(UnaryOp::Abs, x);
        Tensor num = mul(mul(ge, unary(UnaryOp::Sign, x)), pow_scalar(ax, p - 1));
        grad = where(binary(BinaryOp::Eq, ye, zero), zero, div(num, pow_scalar(ye, p - 1)));
      }
      return std::vector<Tensor>{grad};
    });
  }
  return out;
}

Tensor var(const Tensor& a, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  auto mask = dim_mask(dims, a->ndim());
  double n = static_cast<double>(reduced_count(a->shape, mask));
  Tensor centered = sub(a, mean(a, dims, true));
  return mul_scalar(sum(mul(centered, centered), dims, keepdim), 1.0 / std::max(0.0, n - static_cast<double>(correction)));
}

}  // namespace ember
