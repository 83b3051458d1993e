// multinomial sampling on the core's Philox generator, so a seed gives the
// same draws on every device. With replacement: inverse transform sampling
// (a binary search of u * total in the row's cumulative sums, in float64).
// Without replacement: the exponential race (Efraimidis-Spirakis): each
// category draws E ~ Exp(1) and the k largest p / E win, which samples
// exactly as drawing one by one and renormalizing; a stable sort breaks ties.
#include <limits>

#include "../autograd/node.h"
#include "../error.h"
#include "ops.h"

namespace ember {

namespace {

// PyTorch's names for dtypes in multinomial's message ("Long", "Int", ...).
const char* scalar_type_name(DType d) {
  switch (d) {
    case DType::Bool: return "Bool";
    case DType::UInt8: return "Byte";
    case DType::Int8: return "Char";
    case DType::Int16: return "Short";
    case DType::Int32: return "Int";
    case DType::Int64: return "Long";
    default: return dtype_name(d);
  }
}

}  // namespace

Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement) {
  EMBER_CHECK(is_floating(probs->dtype), Error, "multinomial only supports floating-point dtypes for input, got: ",
              scalar_type_name(probs->dtype));
  EMBER_CHECK(probs->ndim() == 1 || probs->ndim() == 2, Error, "prob_dist must be 1 or 2 dim");
  EMBER_CHECK(num_samples > 0, Error, "cannot sample n_sample <= 0 samples");
  const int64_t n = probs->shape.back();
  EMBER_CHECK(replacement || num_samples <= n, Error,
              "cannot sample n_sample > prob_dist.size(-1) samples without replacement");
  EMBER_CHECK(n <= (int64_t(1) << 24), Error, "number of categories cannot exceed 2^24");
  const int64_t rows = probs->ndim() == 2 ? probs->shape[0] : 1;
  const Device dev = probs->device();
  Shape out_shape = probs->ndim() == 2 ? Shape{rows, num_samples} : Shape{num_samples};
  NoGradGuard no_grad;
  if (rows == 0) return zeros(out_shape, DType::Int64, dev);
  Tensor p = reshape(to_dtype(probs, DType::Float64), {rows, n});
  Tensor zero = zeros({}, DType::Float64, dev);
  Tensor inf = full({}, Scalar(std::numeric_limits<double>::infinity()), DType::Float64, dev);
  Tensor valid = binary(BinaryOp::LogicalAnd, binary(BinaryOp::Ge, p, zero), binary(BinaryOp::Lt, p, inf));
  EMBER_CHECK(item(all(valid, {}, false)).i, Error, "probability tensor contains either `inf`, `nan` or element < 0");
  Tensor total = sum(p, {1}, true);  // [rows, 1]
  EMBER_CHECK(item(all(binary(BinaryOp::Gt, total, zero), {}, false)).i, Error,
              "invalid multinomial distribution (sum of probabilities <= 0)");
  Tensor samples;
  if (replacement) {
    Tensor cdf = contiguous(cumsum(p, 1));
    Tensor reach = contiguous(slice(cdf, 1, n - 1, n, 1));  // the row's total as the search will see it
    Tensor u = rand({rows, num_samples}, DType::Float64, dev);
    samples = searchsorted(cdf, mul(u, reach), /*right=*/true, /*out_int32=*/false);
    // u * total may round up to total: the last category with mass then wins.
    Tensor last_positive = argmax(to_dtype(binary(BinaryOp::Eq, cdf, reach), DType::Float64), 1, true);
    samples = binary(BinaryOp::Minimum, samples, last_positive);
  } else {
    Tensor u = rand({rows, n}, DType::Float64, dev);
    Tensor e = neg(unary(UnaryOp::Log1p, neg(u)));  // Exp(1), from u in [0, 1)
    // Zero-mass categories rank below all others (drawn last, in order).
    Tensor keys = where(binary(BinaryOp::Gt, p, zero), div(p, e), full({}, Scalar(-1.0), DType::Float64, dev));
    samples = topk(keys, num_samples, 1, true, true).second;
  }
  return reshape(contiguous(samples), out_shape);
}

}  // namespace ember
