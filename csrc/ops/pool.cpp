// Pooling over NCHW: max (with indices), average, and their adaptive forms,
// with backward. Geometry and checks follow PyTorch (its messages
// included); the arithmetic is the pooling primitives (backend.h).
#include "../autograd/node.h"
#include "../error.h"
#include "ops.h"

namespace ember {

namespace {

std::vector<int64_t> pool_pair(const std::vector<int64_t>& v, const char* op, const char* name) {
  if (v.size() == 1) return {v[0], v[0]};
  EMBER_CHECK(v.size() == 2, Error, op, ": ", name, " must either be a single int, or a tuple of two ints");
  return v;
}

// PyTorch's pooling_output_shape: floor or ceil division, and in ceil mode
// the last window must start inside the input or its left padding.
int64_t pooled_size(int64_t L, int64_t k, int64_t pad, int64_t stride, int64_t dilation, bool ceil_mode) {
  const int64_t span = L + 2 * pad - dilation * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  int64_t out = (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1;
  if (ceil_mode && (out - 1) * stride >= L + pad) --out;
  return out;
}

DType pool_compute_dtype(DType dt) { return dt == DType::Float16 || dt == DType::BFloat16 ? DType::Float32 : dt; }

// A batched, contiguous 4-D view of a 3-D or 4-D input, in the compute dtype.
Tensor as_batched(const Tensor& input) {
  Tensor x = input->ndim() == 3 ? unsqueeze(input, 0) : input;
  return contiguous(to_dtype(x, pool_compute_dtype(input->dtype)));
}

Tensor unbatch_like(const Tensor& y, const Tensor& input) {
  return input->ndim() == 3 ? squeeze(y, std::vector<int64_t>{0}) : y;
}

void check_pool_input(const Tensor& input, const char* op) {
  bool ok = input->ndim() == 3 || input->ndim() == 4;
  for (int64_t d = input->ndim() == 4 ? 1 : 0; ok && d < input->ndim(); ++d) ok = input->shape[d] > 0;
  EMBER_CHECK(ok, Error, "non-empty 3D or 4D (batch mode) tensor expected for input, got ", shape_str(input->shape),
              " in ", op);
  EMBER_CHECK(is_floating(input->dtype), NotImplementedError, op, ": expected a floating-point input, got ",
              dtype_name(input->dtype));
}

// Geometry of a fixed-window pooling; fills p and the output spatial size.
void fixed_window(const Tensor& input, const std::vector<int64_t>& kernel_in, const std::vector<int64_t>& stride_in,
                  const std::vector<int64_t>& padding_in, const std::vector<int64_t>& dilation_in, bool ceil_mode,
                  const char* op, Pool2dParams& p, int64_t out_hw[2]) {
  std::vector<int64_t> k = pool_pair(kernel_in, op, "kernel_size");
  std::vector<int64_t> s = stride_in.empty() ? k : pool_pair(stride_in, op, "stride");
  std::vector<int64_t> q = pool_pair(padding_in, op, "padding");
  std::vector<int64_t> d = pool_pair(dilation_in, op, "dilation");
  EMBER_CHECK(k[0] > 0 && k[1] > 0, Error, "kernel size should be greater than zero, but got kH: ", k[0],
              " kW: ", k[1]);
  EMBER_CHECK(s[0] > 0 && s[1] > 0, Error, "stride should be greater than zero, but got dH: ", s[0], " dW: ", s[1]);
  EMBER_CHECK(d[0] > 0 && d[1] > 0, Error, "dilation should be greater than zero, but got dilationH: ", d[0],
              " dilationW: ", d[1]);
  for (int i = 0; i < 2; ++i) {
    EMBER_CHECK(q[i] >= 0 && q[i] <= ((k[i] - 1) * d[i] + 1) / 2, Error,
                "pad should be at most half of effective kernel size, but got pad=", q[i], ", kernel_size=", k[i],
                " and dilation=", d[i]);
    p.kernel[i] = k[i], p.stride[i] = s[i], p.padding[i] = q[i], p.dilation[i] = d[i];
  }
  const int64_t H = input->shape[input->ndim() - 2], W = input->shape[input->ndim() - 1];
  out_hw[0] = pooled_size(H, k[0], q[0], s[0], d[0], ceil_mode);
  out_hw[1] = pooled_size(W, k[1], q[1], s[1], d[1], ceil_mode);
  const int64_t C = input->shape[input->ndim() - 3];
  EMBER_CHECK(out_hw[0] >= 1 && out_hw[1] >= 1, Error, "Given input size: (", C, "x", H, "x", W,
              "). Calculated output size: (", C, "x", out_hw[0], "x", out_hw[1], "). Output size is too small");
}

std::pair<Tensor, Tensor> max_pool_impl(const Tensor& input, const Pool2dParams& p, const int64_t out_hw[2],
                                        const char* node_name) {
  Tensor out, indices;
  Shape in_shape;
  {
    NoGradGuard no_grad;
    Tensor x = as_batched(input);
    in_shape = x->shape;
    Shape os{x->shape[0], x->shape[1], out_hw[0], out_hw[1]};
    Tensor y = make_empty(os, x->dtype, x->device());
    indices = make_empty(os, DType::Int64, x->device());
    if (y->numel()) backend(x->device()).max_pool2d(y, indices, x, p);
    out = make_alias(unbatch_like(to_dtype(y, input->dtype), input));
    out->view_base.reset();
    indices = unbatch_like(indices, input);
  }
  if (should_record({&input})) {
    Tensor saved_indices = indices;  // never written in place by anyone: held as is
    const DType dt = input->dtype;
    const Shape shape = input->shape;
    record(node_name, {input}, out, [saved_indices, in_shape, dt, shape](std::vector<Tensor>& g) {
      NoGradGuard no_grad;
      Tensor gy = contiguous(to_dtype(g[0], pool_compute_dtype(dt)));
      Tensor idx = contiguous(saved_indices);
      if (gy->ndim() == 3) gy = unsqueeze(gy, 0), idx = unsqueeze(idx, 0);
      Tensor gx = make_empty(in_shape, gy->dtype, gy->device());
      if (gx->numel()) backend(gy->device()).max_pool2d_backward(gx, gy, idx);
      return std::vector<Tensor>{reshape(to_dtype(gx, dt), shape)};
    });
  }
  return {out, indices};
}

Tensor avg_pool_impl(const Tensor& input, const Pool2dParams& p, const int64_t out_hw[2], const char* node_name) {
  Tensor out;
  Shape in_shape;
  {
    NoGradGuard no_grad;
    Tensor x = as_batched(input);
    in_shape = x->shape;
    Tensor y = make_empty({x->shape[0], x->shape[1], out_hw[0], out_hw[1]}, x->dtype, x->device());
    if (y->numel()) backend(x->device()).avg_pool2d(y, x, p);
    out = make_alias(unbatch_like(to_dtype(y, input->dtype), input));
    out->view_base.reset();
  }
  if (should_record({&input})) {
    const DType dt = input->dtype;
    const Shape shape = input->shape;
    const Shape out_shape{in_shape[0], in_shape[1], out_hw[0], out_hw[1]};
    record(node_name, {input}, out, [p, in_shape, out_shape, dt, shape](std::vector<Tensor>& g) {
      NoGradGuard no_grad;
      Tensor gy = reshape(contiguous(to_dtype(g[0], pool_compute_dtype(dt))), out_shape);
      Tensor gx = make_empty(in_shape, gy->dtype, gy->device());
      if (gx->numel()) backend(gy->device()).avg_pool2d_backward(gx, gy, p);
      return std::vector<Tensor>{reshape(to_dtype(gx, dt), shape)};
    });
  }
  return out;
}

void adaptive_geometry(const Tensor& input, const std::vector<int64_t>& output_size, const char* op,
                       Pool2dParams& p, int64_t out_hw[2]) {
  EMBER_CHECK(input->ndim() == 3 || input->ndim() == 4, Error, op, "(): Expected 3D or 4D tensor, but got ",
              shape_str(input->shape));
  for (int64_t d = input->ndim() - 3; d < input->ndim(); ++d)
    EMBER_CHECK(input->shape[d] > 0, Error, op,
                "(): Expected input to have non-zero size for non-batch dimensions, but input has sizes ",
                shape_str(input->shape), " with dimension ", d, " being empty");
  EMBER_CHECK(is_floating(input->dtype), NotImplementedError, op, ": expected a floating-point input, got ",
              dtype_name(input->dtype));
  std::vector<int64_t> o = pool_pair(output_size, op, "output_size");
  EMBER_CHECK(o[0] >= 0 && o[1] >= 0, Error, op, "(): output_size must be non-negative, got ", o[0], "x", o[1]);
  p.adaptive = true;
  out_hw[0] = o[0], out_hw[1] = o[1];
}

}  // namespace

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, const std::vector<int64_t>& kernel,
                                                  const std::vector<int64_t>& stride,
                                                  const std::vector<int64_t>& padding,
                                                  const std::vector<int64_t>& dilation, bool ceil_mode) {
  check_pool_input(input, "max_pool2d");
  Pool2dParams p;
  int64_t out_hw[2];
  fixed_window(input, kernel, stride, padding, dilation, ceil_mode, "max_pool2d", p, out_hw);
  return max_pool_impl(input, p, out_hw, "MaxPool2DWithIndicesBackward0");
}

Tensor avg_pool2d(const Tensor& input, const std::vector<int64_t>& kernel, const std::vector<int64_t>& stride,
                  const std::vector<int64_t>& padding, bool ceil_mode, bool count_include_pad,
                  std::optional<int64_t> divisor_override) {
  check_pool_input(input, "avg_pool2d");
  EMBER_CHECK(!divisor_override || *divisor_override != 0, Error, "divisor must be not zero");
  Pool2dParams p;
  int64_t out_hw[2];
  fixed_window(input, kernel, stride, padding, {1}, ceil_mode, "avg_pool2d", p, out_hw);
  p.count_include_pad = count_include_pad;
  p.divisor_override = divisor_override.value_or(0);
  return avg_pool_impl(input, p, out_hw, "AvgPool2DBackward0");
}

Tensor adaptive_avg_pool2d(const Tensor& input, const std::vector<int64_t>& output_size) {
  Pool2dParams p;
  int64_t out_hw[2];
  adaptive_geometry(input, output_size, "adaptive_avg_pool2d", p, out_hw);
  return avg_pool_impl(input, p, out_hw, "AdaptiveAvgPool2DBackward0");
}

std::pair<Tensor, Tensor> adaptive_max_pool2d(const Tensor& input, const std::vector<int64_t>& output_size) {
  Pool2dParams p;
  int64_t out_hw[2];
  adaptive_geometry(input, output_size, "adaptive_max_pool2d", p, out_hw);
  return max_pool_impl(input, p, out_hw, "AdaptiveMaxPool2DBackward0");
}

}  // namespace ember
