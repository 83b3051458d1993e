// Batch and layer normalization: PyTorch's checks and messages, the
// running-statistics update, and hand-written backward nodes over the four
// normalization primitives of backend.h. Both ops see their input as a
// contiguous [N, C, S]: batch norm normalizes each channel c over (n, s),
// layer norm is [1, rows, normalized size], each row a "channel". The
// per-channel coefficients ([C] vectors) are folded with ordinary tensor
// ops, so each primitive makes one pass over the large tensors.
//
// The backward node's kernels record no history; when a backward itself
// records (create_graph), the same gradients are built from differentiable
// ops instead, so that double backward is right.
#include <cmath>

#include "../autograd/node.h"
#include "../error.h"
#include "ops.h"

namespace ember {

namespace {

bool is_16bit(DType d) { return d == DType::Float16 || d == DType::BFloat16; }
// 16-bit inputs are computed in float32, as the other ops do.
DType compute_dtype(DType d) { return is_16bit(d) ? DType::Float32 : d; }

void check_floating(const Tensor& x, const char* kernel) {
  EMBER_CHECK(is_floating(x->dtype), NotImplementedError, "\"", kernel, "\" not implemented for '",
              dtype_name(x->dtype), "'");
}

// A parameter's dtype must be the input's, or float32 beside a 16-bit input
// (PyTorch's mixed-precision rule).
void check_param_dtype(const Tensor& p, const char* what, const Tensor& input, const char* op) {
  const bool ok = p->dtype == input->dtype || (is_16bit(input->dtype) && p->dtype == DType::Float32);
  EMBER_CHECK(ok, Error, op, ": mixed dtype: expected ", what, " to have dtype ", dtype_name(input->dtype),
              " (the input's)", is_16bit(input->dtype) ? " or float32" : "", ", but got ", dtype_name(p->dtype));
}

Tensor as_vector(const Tensor& t, int64_t c, DType dtype) {
  return contiguous(to_dtype(reshape(t, {c}), dtype));
}

Tensor reshaped_like(const Tensor& t, const Shape& shape, DType dtype) {
  return to_dtype(reshape(t, shape), dtype);
}

// The gradients of a normalization from differentiable ops, for backward
// passes that record (create_graph). x3 [N, C, S] (with history), g3 the
// upstream gradient of the same shape, w the affine weight shaped to
// broadcast against x3 (or null). `reduce_dims` are the statistics' dims;
// `affine_dims` those the weight/bias are broadcast over. With batch
// statistics the mean and invstd are recomputed from x3 (so their
// dependence on x3 is differentiated); otherwise the given constants serve.
std::vector<Tensor> composite_backward(const Tensor& x3, const Tensor& g3, const Tensor& w,
                                       const std::vector<int64_t>& reduce_dims,
                                       const std::vector<int64_t>& affine_dims, bool batch_stats,
                                       const Tensor& mean_b, const Tensor& invstd_b, double eps) {
  Tensor mu = mean_b, invstd = invstd_b;
  if (batch_stats) {
    mu = mean(x3, reduce_dims, true);
    Tensor xc = sub(x3, mu);
    invstd = unary(UnaryOp::Rsqrt, add_scalar(mean(mul(xc, xc), reduce_dims, true), eps));
  }
  Tensor xhat = mul(sub(x3, mu), invstd);
  Tensor grad_b = sum(g3, affine_dims, true);
  Tensor grad_w = sum(mul(g3, xhat), affine_dims, true);
  Tensor dxhat = w ? mul(g3, w) : g3;
  Tensor gi;
  if (batch_stats) {
    Tensor centered = sub(sub(dxhat, mean(dxhat, reduce_dims, true)),
                          mul(xhat, mean(mul(dxhat, xhat), reduce_dims, true)));
    gi = mul(centered, invstd);
  } else {
    gi = mul(dxhat, invstd);
  }
  return {gi, grad_w, grad_b};
}

}  // namespace

Tensor batch_norm(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps) {
  check_floating(input, "batch_norm");
  EMBER_CHECK(input->ndim() >= 2, ValueError, "batch_norm: expected an input of shape [N, C, *] (2-D or more), got ",
              input->ndim(), "-D input of size ", shape_str(input->shape));
  const int64_t n = input->shape[0], c = input->shape[1];
  int64_t s = 1;  // the trailing dims' product
  for (int64_t d = 2; d < input->ndim(); ++d) s *= input->shape[d];
  const int64_t per_channel = n * s;
  struct Named {
    const Tensor& t;
    const char* name;
  };
  for (Named p : {Named{running_mean, "running_mean"}, Named{running_var, "running_var"}, Named{weight, "weight"},
                  Named{bias, "bias"}}) {
    if (!p.t) continue;
    EMBER_CHECK(p.t->numel() == c, Error, p.name, " should contain ", c, " elements not ", p.t->numel());
    check_same_device(input, p.t, "batch_norm");
    check_param_dtype(p.t, p.name, input, "batch_norm");
  }
  EMBER_CHECK(training || (running_mean && running_var), Error,
              running_mean ? "running_var" : "running_mean", " must be defined in evaluation mode");
  EMBER_CHECK(!training || per_channel != 1, ValueError,
              "Expected more than 1 value per channel when training, got input size ", shape_str(input->shape));
  EMBER_CHECK(training ? eps > 0.0 : eps >= 0.0, ValueError, "batch_norm eps must be ",
              training ? "positive during training" : "non-negative", ", but got ", eps);

  const DType compute = compute_dtype(input->dtype);
  const Device dev = input->device();
  Backend& be = backend(dev);
  Tensor out, x3, mean_c, invstd_c;
  {
    NoGradGuard no_grad;
    if (input->numel() == 0) {
      out = make_empty(input->shape, input->dtype, dev);
    } else {
      x3 = contiguous(to_dtype(reshape(input, {n, c, s}), compute));
      if (training) {
        mean_c = make_empty({c}, compute, dev);
        Tensor var_c = make_empty({c}, compute, dev);
        be.batch_norm_stats(mean_c, var_c, x3);
        invstd_c = unary(UnaryOp::Rsqrt, add_scalar(var_c, eps));
        // r = (1 - momentum) r + momentum * stat, with the unbiased variance.
        const double unbias = double(per_channel) / double(per_channel - 1);
        if (running_mean) {
          Tensor rm = running_mean;
          copy_(rm, reshape(add(mul_scalar(to_dtype(reshape(rm, {c}), compute), 1.0 - momentum),
                                mul_scalar(mean_c, momentum)),
                            rm->shape));
        }
        if (running_var) {
          Tensor rv = running_var;
          copy_(rv, reshape(add(mul_scalar(to_dtype(reshape(rv, {c}), compute), 1.0 - momentum),
                                mul_scalar(var_c, momentum * unbias)),
                            rv->shape));
        }
      } else {
        // Snapshots: the running statistics may change before backward.
        mean_c = clone(as_vector(running_mean, c, compute));
        invstd_c = unary(UnaryOp::Rsqrt, add_scalar(as_vector(running_var, c, compute), eps));
      }
      Tensor scale = weight ? mul(as_vector(weight, c, compute), invstd_c) : invstd_c;
      Tensor shift = neg(mul(mean_c, scale));
      if (bias) shift = add(shift, as_vector(bias, c, compute));
      Tensor out3 = make_empty({n, c, s}, compute, dev);
      be.batch_norm_apply(out3, x3, contiguous(scale), contiguous(shift));
      out = to_dtype(reshape(out3, input->shape), input->dtype);
    }
  }
  if (!should_record({&input, &weight, &bias})) return out;

  SavedTensor s_in(input, false), s_w;
  if (weight) s_w = SavedTensor(weight, false);
  const bool need_in = input->requires_grad(), need_w = weight && weight->requires_grad(),
             need_b = bias && bias->requires_grad();
  const bool has_w = bool(weight);
  const DType in_dtype = input->dtype, w_dtype = weight ? weight->dtype : compute,
              b_dtype = bias ? bias->dtype : compute;
  const Shape in_shape = input->shape, w_shape = weight ? weight->shape : Shape{},
              b_shape = bias ? bias->shape : Shape{};
  record("NativeBatchNormBackward0", {input, weight, bias}, out,
         [=](std::vector<Tensor>& grads) -> std::vector<Tensor> {
           Tensor x = s_in.unpack(nullptr);
           Tensor w = has_w ? s_w.unpack(nullptr) : Tensor();
           const Device dev = x->device();
           if (x->numel() == 0) {
             return {need_in ? zeros(in_shape, in_dtype, dev) : Tensor(),
                     need_w ? zeros(w_shape, w_dtype, dev) : Tensor(),
                     need_b ? zeros(b_shape, b_dtype, dev) : Tensor()};
           }
           if (grad_enabled()) {
             // create_graph: the same formulas from differentiable ops.
             Tensor xx = reshaped_like(x, {n, c, s}, compute);
             Tensor gg = reshaped_like(grads[0], {n, c, s}, compute);
             Tensor ww = w ? reshaped_like(w, {1, c, 1}, compute) : Tensor();
             auto r = composite_backward(xx, gg, ww, {0, 2}, {0, 2}, training, reshape(mean_c, {1, c, 1}),
                                         reshape(invstd_c, {1, c, 1}), eps);
             return {need_in ? reshaped_like(r[0], in_shape, in_dtype) : Tensor(),
                     need_w ? reshaped_like(r[1], w_shape, w_dtype) : Tensor(),
                     need_b ? reshaped_like(r[2], b_shape, b_dtype) : Tensor()};
           }
           Backend& be = backend(dev);
           Tensor dy3 = contiguous(to_dtype(reshape(grads[0], {n, c, s}), compute));
           Tensor sum_dy, sum_dy_xmu;
           if (need_w || need_b || (need_in && training)) {
             sum_dy = make_empty({c}, compute, dev);
             sum_dy_xmu = make_empty({c}, compute, dev);
             be.batch_norm_backward_reduce(sum_dy, sum_dy_xmu, dy3, x3, mean_c);
           }
           Tensor gi;
           if (need_in) {
             // dx = w invstd (dy - mean(dy) - (x - mean) invstd^2 mean(dy (x - mean)))
             // with batch statistics; dx = w invstd dy with running ones.
             Tensor k = w ? mul(as_vector(w, c, compute), invstd_c) : invstd_c;
             Tensor gi3 = make_empty({n, c, s}, compute, dev);
             if (training) {
               const double inv_m = 1.0 / double(per_channel);
               Tensor xmu_scale = neg(mul(mul(k, mul(invstd_c, invstd_c)), mul_scalar(sum_dy_xmu, inv_m)));
               Tensor shift = neg(mul(k, mul_scalar(sum_dy, inv_m)));
               be.batch_norm_backward_apply(gi3, dy3, x3, mean_c, contiguous(k), contiguous(xmu_scale),
                                            contiguous(shift));
             } else {
               be.batch_norm_apply(gi3, dy3, contiguous(k), zeros({c}, compute, dev));
             }
             gi = to_dtype(reshape(gi3, in_shape), in_dtype);
           }
           return {gi, need_w ? reshaped_like(mul(sum_dy_xmu, invstd_c), w_shape, w_dtype) : Tensor(),
                   need_b ? reshaped_like(sum_dy, b_shape, b_dtype) : Tensor()};
         });
  return out;
}

Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  const int64_t k_dims = static_cast<int64_t>(normalized_shape.size());
  EMBER_CHECK(k_dims >= 1, Error,
              "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, but "
              "got normalized_shape = ",
              shape_str(normalized_shape));
  for (const auto& [p, name] : {std::pair<const Tensor&, const char*>{weight, "weight"}, {bias, "bias"}}) {
    if (!p) continue;
    EMBER_CHECK(p->shape == normalized_shape, Error, "Expected ", name,
                " to be of same shape as normalized_shape, but got ", name, " of shape ", shape_str(p->shape),
                " and normalized_shape = ", shape_str(normalized_shape));
  }
  const int64_t nd = input->ndim();
  bool matches = nd >= k_dims;
  for (int64_t i = 0; matches && i < k_dims; ++i) matches = input->shape[nd - k_dims + i] == normalized_shape[i];
  if (!matches) {
    std::string expected = "[*";
    for (int64_t d : normalized_shape) expected += str(", ", d);
    throw Error(str("Given normalized_shape=", shape_str(normalized_shape), ", expected input with shape ", expected,
                    "], but got input of size", shape_str(input->shape)));
  }
  check_floating(input, "LayerNormKernelImpl");
  for (const auto& [p, name] : {std::pair<const Tensor&, const char*>{weight, "weight"}, {bias, "bias"}}) {
    if (!p) continue;
    check_same_device(input, p, "layer_norm");
    check_param_dtype(p, name, input, "layer_norm");
  }
  int64_t k = 1;
  for (int64_t d : normalized_shape) k *= d;
  const int64_t rows = k == 0 ? 0 : input->numel() / k;

  const DType compute = compute_dtype(input->dtype);
  const Device dev = input->device();
  Backend& be = backend(dev);
  Tensor out, x3, mean_r, rstd_r;
  {
    NoGradGuard no_grad;
    if (input->numel() == 0) {
      out = make_empty(input->shape, input->dtype, dev);
    } else {
      x3 = contiguous(to_dtype(reshape(input, {1, rows, k}), compute));
      mean_r = make_empty({rows}, compute, dev);
      Tensor var_r = make_empty({rows}, compute, dev);
      be.batch_norm_stats(mean_r, var_r, x3);
      rstd_r = unary(UnaryOp::Rsqrt, add_scalar(var_r, eps));
      Tensor out3 = make_empty({1, rows, k}, compute, dev);
      be.batch_norm_apply(out3, x3, rstd_r, contiguous(neg(mul(mean_r, rstd_r))));
      // The elementwise affine is the per-channel apply over the [rows, K, 1]
      // view (channel = position in the row), in place: one pass, where a
      // broadcast multiply and add were two slow ones for short rows.
      if (weight || bias) {
        Tensor cols = reshape(out3, {rows, k, 1});
        be.batch_norm_apply(cols, cols, weight ? as_vector(weight, k, compute) : ones({k}, compute, dev),
                            bias ? as_vector(bias, k, compute) : zeros({k}, compute, dev));
      }
      out = to_dtype(reshape(out3, input->shape), input->dtype);
    }
  }
  if (!should_record({&input, &weight, &bias})) return out;

  SavedTensor s_in(input, false), s_w;
  if (weight) s_w = SavedTensor(weight, false);
  const bool need_in = input->requires_grad(), need_w = weight && weight->requires_grad(),
             need_b = bias && bias->requires_grad();
  const bool has_w = bool(weight);
  const DType in_dtype = input->dtype, w_dtype = weight ? weight->dtype : compute,
              b_dtype = bias ? bias->dtype : compute;
  const Shape in_shape = input->shape;
  record("NativeLayerNormBackward0", {input, weight, bias}, out,
         [=](std::vector<Tensor>& grads) -> std::vector<Tensor> {
           Tensor x = s_in.unpack(nullptr);
           Tensor w = has_w ? s_w.unpack(nullptr) : Tensor();
           const Device dev = x->device();
           if (x->numel() == 0) {
             return {need_in ? zeros(in_shape, in_dtype, dev) : Tensor(),
                     need_w ? zeros(normalized_shape, w_dtype, dev) : Tensor(),
                     need_b ? zeros(normalized_shape, b_dtype, dev) : Tensor()};
           }
           if (grad_enabled()) {
             Tensor xx = reshaped_like(x, {1, rows, k}, compute);
             Tensor gg = reshaped_like(grads[0], {1, rows, k}, compute);
             Tensor ww = w ? reshaped_like(w, {1, 1, k}, compute) : Tensor();
             auto r = composite_backward(xx, gg, ww, {2}, {0, 1}, true, Tensor(), Tensor(), eps);
             return {need_in ? reshaped_like(r[0], in_shape, in_dtype) : Tensor(),
                     need_w ? reshaped_like(r[1], normalized_shape, w_dtype) : Tensor(),
                     need_b ? reshaped_like(r[2], normalized_shape, b_dtype) : Tensor()};
           }
           Backend& be = backend(dev);
           Tensor dy3 = contiguous(to_dtype(reshape(grads[0], {1, rows, k}), compute));
           Tensor grad_w, grad_b;
           if (need_w || need_b) {
             // grad_w = sum over rows of dy * xhat, grad_b = sum of dy: the
             // batch-norm backward reduction over the [rows, K, 1] views
             // with a zero mean, one pass over both.
             Tensor xhat3 = make_empty({1, rows, k}, compute, dev);
             be.batch_norm_apply(xhat3, x3, rstd_r, contiguous(neg(mul(mean_r, rstd_r))));
             Tensor sum_dy = make_empty({k}, compute, dev), sum_dy_xhat = make_empty({k}, compute, dev);
             be.batch_norm_backward_reduce(sum_dy, sum_dy_xhat, reshape(dy3, {rows, k, 1}), reshape(xhat3, {rows, k, 1}),
                                           zeros({k}, compute, dev));
             if (need_w) grad_w = reshaped_like(sum_dy_xhat, normalized_shape, w_dtype);
             if (need_b) grad_b = reshaped_like(sum_dy, normalized_shape, b_dtype);
           }
           Tensor gi;
           if (need_in) {
             // dxhat = dy w; dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), per row.
             Tensor dxhat = dy3;
             if (w) {
               dxhat = make_empty({1, rows, k}, compute, dev);
               be.batch_norm_apply(reshape(dxhat, {rows, k, 1}), reshape(dy3, {rows, k, 1}), as_vector(w, k, compute),
                                   zeros({k}, compute, dev));
             }
             Tensor sum_d = make_empty({rows}, compute, dev), sum_d_xmu = make_empty({rows}, compute, dev);
             be.batch_norm_backward_reduce(sum_d, sum_d_xmu, dxhat, x3, mean_r);
             const double inv_k = 1.0 / double(k);
             Tensor xmu_scale = neg(mul(mul(rstd_r, mul(rstd_r, rstd_r)), mul_scalar(sum_d_xmu, inv_k)));
             Tensor shift = neg(mul(rstd_r, mul_scalar(sum_d, inv_k)));
             Tensor gi3 = make_empty({1, rows, k}, compute, dev);
             be.batch_norm_backward_apply(gi3, dxhat, x3, mean_r, rstd_r, contiguous(xmu_scale), contiguous(shift));
             gi = to_dtype(reshape(gi3, in_shape), in_dtype);
           }
           return {gi, grad_w, grad_b};
         });
  return out;
}

}  // namespace ember
