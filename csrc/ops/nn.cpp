// Neural-network ops with fused kernels or fused backward: activations,
// softmax/log_softmax, cross-entropy, MSE and dropout.
#include <cmath>

#include "../autograd/node.h"
#include "../error.h"
#include "ops.h"

namespace ember {

Tensor relu(const Tensor& a) { return unary(UnaryOp::Relu, a); }
Tensor sigmoid(const Tensor& a) { return unary(UnaryOp::Sigmoid, a); }
Tensor tanh(const Tensor& a) { return unary(UnaryOp::Tanh, a); }

namespace {

Tensor softmax_impl(const Tensor& a, int64_t dim_in, bool log) {
  int64_t nd = a->ndim();
  int64_t dim = wrap_dim(dim_in, nd);
  DType compute = is_floating(a->dtype) ? a->dtype : DType::Float32;
  if (compute == DType::Float16 || compute == DType::BFloat16) compute = DType::Float32;
  DType result_dtype = is_floating(a->dtype) ? a->dtype : DType::Float32;
  Tensor out;
  {
    NoGradGuard no_grad;
    Tensor x = to_dtype(a, compute);
    if (nd == 0) x = reshape(x, {1});
    int64_t last = x->ndim() - 1;
    Tensor moved = contiguous(dim == last ? x : transpose(x, dim, last));
    Tensor y = make_empty(moved->shape, compute, a->device());
    if (y->numel()) backend(a->device()).softmax(y, moved, log);
    y = dim == last ? y : contiguous(transpose(y, dim, last));
    out = to_dtype(reshape(y, a->shape), result_dtype);
    out = make_alias(out);
    out->view_base.reset();
  }
  if (should_record({&a})) {
    SavedTensor so(out, true);
    record(log ? "LogSoftmaxBackward0" : "SoftmaxBackward0", {a}, out, [so, dim, log](std::vector<Tensor>& g) {
      Tensor y = so.unpack(nullptr);
      int64_t nd = y->ndim();
      Tensor yy = nd == 0 ? reshape(y, {1}) : y, gg = nd == 0 ? reshape(g[0], {1}) : g[0];
      int64_t last = yy->ndim() - 1;
      Tensor ym = contiguous(dim == last ? yy : transpose(yy, dim, last));
      Tensor gm = contiguous(to_dtype(dim == last ? gg : transpose(gg, dim, last), ym->dtype));
      Tensor gi = make_empty(ym->shape, ym->dtype, ym->device());
      if (gi->numel()) backend(ym->device()).softmax_backward(gi, gm, ym, log);
      gi = dim == last ? gi : transpose(gi, dim, last);
      return std::vector<Tensor>{reshape(contiguous(gi), y->shape)};
    });
  }
  return out;
}

Tensor apply_reduction(const Tensor& per_item, Reduction r) {
  switch (r) {
    case Reduction::None: return per_item;
    case Reduction::Sum: return sum(per_item, {}, false);
    case Reduction::Mean: return mean(per_item, {}, false);
  }
  return per_item;
}

}  // namespace

Tensor softmax(const Tensor& a, int64_t dim) { return softmax_impl(a, dim, false); }
Tensor log_softmax(const Tensor& a, int64_t dim) { return softmax_impl(a, dim, true); }

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction, const Tensor& weight,
                     int64_t ignore_index, double label_smoothing) {
  EMBER_CHECK(is_floating(logits->dtype), Error, "cross_entropy expects floating point logits, got ",
              dtype_name(logits->dtype));
  EMBER_CHECK(logits->ndim() == 1 || logits->ndim() == 2, Error,
              "cross_entropy expects logits of shape [N, C] or [C], got ", shape_str(logits->shape));
  EMBER_CHECK(target->dtype == DType::Int64 || target->dtype == DType::Int32, Error,
              "expected scalar type Long but found ", dtype_name(target->dtype),
              " (cross_entropy takes class-index targets)");
  EMBER_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, Error,
              "label_smoothing must be between 0.0 and 1.0. Got: ", label_smoothing);
  check_same_device(logits, target, "cross_entropy");
  Tensor x = logits->ndim() == 1 ? unsqueeze(logits, 0) : logits;
  Tensor tgt = to_dtype(target->ndim() == 0 ? reshape(target, {1}) : target, DType::Int64);
  int64_t n = x->shape[0], c = x->shape[1];
  EMBER_CHECK(tgt->ndim() == 1 && tgt->shape[0] == n, ValueError, "Expected input batch_size (", n,
              ") to match target batch_size (", tgt->numel(), ").");
  Tensor w;
  if (weight) {
    EMBER_CHECK(weight->ndim() == 1 && weight->shape[0] == c, Error,
                "weight tensor should be defined either for all ", c,
                " classes or no classes but got weight tensor of shape: ", shape_str(weight->shape));
    check_same_device(logits, weight, "cross_entropy");
    w = to_dtype(weight, x->dtype);
  }
  // Targets equal to ignore_index (PyTorch's default -100) contribute no
  // loss and no gradient, and do not count in the mean. The common case,
  // no ignored target, is found from the bounds alone.
  Tensor valid;  // Bool [n], only when some target is ignored
  Tensor safe = tgt;  // ignored targets replaced by class 0 for the gather
  if (n) {
    NoGradGuard no_grad;
    int64_t lo = item(min_all(tgt)).i, hi = item(max_all(tgt)).i;
    Tensor ii = scalar_tensor(Scalar(ignore_index), DType::Int64, tgt->device());
    if (ignore_index >= lo && ignore_index <= hi && item(any(binary(BinaryOp::Eq, tgt, ii), {}, false)).i) {
      valid = binary(BinaryOp::Ne, tgt, ii);
      safe = where(valid, tgt, zeros({}, DType::Int64, tgt->device()));  // 0 is always in range
      lo = item(min_all(safe)).i;
      hi = item(max_all(safe)).i;
    }
    EMBER_CHECK(lo >= 0 && hi < c, IndexError, "Target ", lo < 0 ? lo : hi, " is out of bounds.");
  }
  // -log_softmax(x)[i, target[i]], through the differentiable ops so that
  // the backward is softmax - one_hot, computed by the fused softmax kernel.
  Tensor lsm = log_softmax(x, 1);
  Tensor losses = neg(reshape(gather(lsm, 1, unsqueeze(safe, 1)), {n}));
  Tensor sample_weight;  // w[target[i]]: scales the loss and the mean's denominator
  if (w) {
    sample_weight = index_select(w, 0, safe);
    losses = mul(losses, sample_weight);
  }
  if (label_smoothing > 0.0) {
    // (1 - eps) * nll + eps / C * sum_c -w_c * log_softmax(x)_c
    Tensor smooth = neg(sum(w ? mul(lsm, unsqueeze(w, 0)) : lsm, {1}, false));
    losses = add(mul_scalar(losses, 1.0 - label_smoothing), mul_scalar(smooth, label_smoothing / double(c)));
  }
  if (valid) {
    Tensor zero = zeros({}, losses->dtype, losses->device());
    losses = where(valid, losses, zero);
    if (sample_weight) sample_weight = where(valid, sample_weight, zero);
  }
  if (logits->ndim() == 1) losses = reshape(losses, {});
  if (reduction != Reduction::Mean || (!valid && !sample_weight)) return apply_reduction(losses, reduction);
  // Weighted or partly ignored mean: divide by the total weight of the
  // counted targets (0/0 = nan when every target is ignored, as PyTorch).
  Tensor total = sample_weight ? sum(sample_weight, {}, false) : sum(to_dtype(valid, losses->dtype), {}, false);
  return div(sum(losses, {}, false), total);
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  Tensor d = sub(input, target);
  return apply_reduction(mul(d, d), reduction);
}

Tensor dropout(const Tensor& a, double p, bool training) {
  EMBER_CHECK(p >= 0.0 && p <= 1.0, ValueError, "dropout probability has to be between 0 and 1, but got ", p);
  if (!training || p == 0.0) return a;
  if (p == 1.0) return mul_scalar(a, 0.0);
  Tensor mask = bernoulli_mask(a, 1.0 - p);
  return mul(a, mul_scalar(mask, 1.0 / (1.0 - p)));
}

}  // namespace ember
