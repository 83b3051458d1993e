// Convolutions: conv2d over NCHW (and conv1d as a conv2d of height 1),
// with backward for input, weight and bias. Arguments are checked here with
// PyTorch's messages; the arithmetic is three backend primitives
// (backend.h, "convolution"). 16-bit inputs compute in float32.
#include <string>

#include "../autograd/node.h"
#include "../error.h"
#include "ops.h"

namespace ember {

namespace {

std::string list_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

// An int or a list of `dims` ints (PyTorch's expand_param_if_needed).
std::vector<int64_t> expand_param(const std::vector<int64_t>& v, size_t dims, const char* name) {
  if (v.size() == 1) return std::vector<int64_t>(dims, v[0]);
  EMBER_CHECK(v.size() == dims, Error, "expected ", name, " to be a single integer value or a list of ", dims,
              " values to match the convolution dimensions, but got ", name, "=", list_str(v));
  return v;
}

DType conv_compute_dtype(DType dt) { return dt == DType::Float16 || dt == DType::BFloat16 ? DType::Float32 : dt; }

const char* tensor_type_name(DType dt) {
  switch (dt) {
    case DType::Float32: return "float";
    case DType::Float64: return "double";
    case DType::Float16: return "c10::Half";
    case DType::BFloat16: return "c10::BFloat16";
    default: return dtype_name(dt);
  }
}

// The conv2d proper on a batched 4-D input; records ConvolutionBackward0.
Tensor conv2d_batched(const Tensor& input, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  const int64_t N = input->shape[0], H = input->shape[2], W = input->shape[3];
  const int64_t Co = weight->shape[0], kh = weight->shape[2], kw = weight->shape[3];
  const int64_t eff_h = (kh - 1) * p.dilation[0] + 1, eff_w = (kw - 1) * p.dilation[1] + 1;
  const int64_t padded_h = H + 2 * p.padding[0], padded_w = W + 2 * p.padding[1];
  EMBER_CHECK(padded_h >= eff_h && padded_w >= eff_w, Error, "Calculated padded input size per channel: (", padded_h,
              " x ", padded_w, "). Kernel size: (", eff_h, " x ", eff_w,
              "). Kernel size can't be greater than actual input size");
  const int64_t Ho = (padded_h - eff_h) / p.stride[0] + 1, Wo = (padded_w - eff_w) / p.stride[1] + 1;
  const DType result_dtype = input->dtype, compute = conv_compute_dtype(input->dtype);
  Tensor out;
  {
    NoGradGuard no_grad;
    Tensor x = contiguous(to_dtype(input, compute)), w = contiguous(to_dtype(weight, compute));
    Tensor b = bias ? contiguous(to_dtype(bias, compute)) : Tensor();
    Tensor y = make_empty({N, Co, Ho, Wo}, compute, input->device());
    if (y->numel()) {
      if (x->numel() && w->numel()) {
        backend(input->device()).conv2d(y, x, w, b, p);
      } else {  // no input channels: the bias alone (or zeros)
        if (b) copy_(y, reshape(b, {1, Co, 1, 1}));
        else fill_(y, Scalar(0.0));
      }
    }
    out = make_alias(to_dtype(y, result_dtype));
    out->view_base.reset();
  }
  if (should_record({&input, &weight, &bias})) {
    SavedTensor sx(input, false), sw(weight, false);
    const bool need_x = input->requires_grad(), need_w = weight->requires_grad(), need_b = bias && bias->requires_grad();
    record("ConvolutionBackward0", {input, weight, bias}, out,
           [sx, sw, p, need_x, need_w, need_b](std::vector<Tensor>& g) {
             Tensor x = sx.unpack(nullptr), w = sw.unpack(nullptr);
             return conv2d_backward(g[0], x, w, p, need_x, need_w, need_b);
           });
  }
  return out;
}

}  // namespace

std::vector<Tensor> conv2d_backward(const Tensor& grad_out, const Tensor& input, const Tensor& weight,
                                    const Conv2dParams& p, bool need_input, bool need_weight, bool need_bias) {
  // Not differentiable twice: the gradients are computed without history.
  NoGradGuard no_grad;
  const DType compute = conv_compute_dtype(input->dtype);
  Tensor gy = contiguous(to_dtype(grad_out, compute));
  Tensor gx, gw, gb;
  Backend& be = backend(input->device());
  const bool empty = !gy->numel() || !input->numel() || !weight->numel();
  if (need_input) {
    gx = make_empty(input->shape, compute, input->device());
    if (empty) fill_(gx, Scalar(0.0));
    else be.conv2d_backward_input(gx, gy, contiguous(to_dtype(weight, compute)), p);
    gx = to_dtype(gx, input->dtype);
  }
  if (need_weight) {
    gw = make_empty(weight->shape, compute, weight->device());
    if (empty) fill_(gw, Scalar(0.0));
    else be.conv2d_backward_weight(gw, gy, contiguous(to_dtype(input, compute)), p);
    gw = to_dtype(gw, weight->dtype);
  }
  if (need_bias) gb = to_dtype(sum(gy, {0, 2, 3}, false), weight->dtype);
  return {gx, gw, gb};
}

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const std::vector<int64_t>& stride_in,
              const std::vector<int64_t>& padding_in, const std::vector<int64_t>& dilation_in, int64_t groups) {
  EMBER_CHECK(input->ndim() == 3 || input->ndim() == 4, Error,
              "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: ",
              shape_str(input->shape));
  EMBER_CHECK(weight->ndim() == 4, Error, "Expected 4-dimensional weight for conv2d, but got weight of size ",
              shape_str(weight->shape));
  check_same_device(input, weight, "conv2d");
  if (bias) check_same_device(input, bias, "conv2d");
  EMBER_CHECK(is_floating(input->dtype), Error, "conv2d: expected a floating-point input, got ",
              dtype_name(input->dtype));
  EMBER_CHECK(input->dtype == weight->dtype, Error, "Input type (", tensor_type_name(input->dtype),
              ") and weight type (", tensor_type_name(weight->dtype), ") should be the same");
  EMBER_CHECK(!bias || bias->dtype == input->dtype, Error, "Input type (", tensor_type_name(input->dtype),
              ") and bias type (", tensor_type_name(bias->dtype), ") should be the same");
  std::vector<int64_t> stride = expand_param(stride_in, 2, "stride");
  std::vector<int64_t> padding = expand_param(padding_in, 2, "padding");
  std::vector<int64_t> dilation = expand_param(dilation_in, 2, "dilation");
  for (int64_t s : stride) EMBER_CHECK(s > 0, Error, "non-positive stride is not supported");
  for (int64_t q : padding) EMBER_CHECK(q >= 0, Error, "negative padding is not supported");
  for (int64_t d : dilation) EMBER_CHECK(d > 0, Error, "non-positive dilation is not supported");
  EMBER_CHECK(groups > 0, Error, "non-positive groups is not supported");
  const bool batched = input->ndim() == 4;
  Tensor x = batched ? input : unsqueeze(input, 0);
  const int64_t Co = weight->shape[0];
  EMBER_CHECK(Co % groups == 0, Error, "Given groups=", groups, ", expected weight to be divisible by ", groups,
              " at dimension 0, but got weight of size [", shape_str(weight->shape), "] instead");
  EMBER_CHECK(x->shape[1] == weight->shape[1] * groups, Error, "Given groups=", groups, ", weight of size ",
              shape_str(weight->shape), ", expected input", shape_str(x->shape), " to have ",
              weight->shape[1] * groups, " channels, but got ", x->shape[1], " channels instead");
  EMBER_CHECK(!bias || (bias->ndim() == 1 && bias->shape[0] == Co), Error, "Given weight of size ",
              shape_str(weight->shape), ", expected bias to be 1-dimensional with ", Co,
              " elements, but got bias of size ", shape_str(bias->shape), " instead");
  Conv2dParams p;
  for (int d = 0; d < 2; ++d) p.stride[d] = stride[d], p.padding[d] = padding[d], p.dilation[d] = dilation[d];
  p.groups = groups;
  Tensor y = conv2d_batched(x, weight, bias, p);
  return batched ? y : squeeze(y, std::vector<int64_t>{0});
}

Tensor conv_string_padding(const Tensor& input, const Tensor& weight, const Tensor& bias,
                     const std::vector<int64_t>& stride, const std::string& padding,
                     const std::vector<int64_t>& dilation_in, int64_t groups, int spatial_dims) {
  const size_t dims = static_cast<size_t>(spatial_dims);
  if (padding == "valid") {
    return spatial_dims == 1 ? conv1d(input, weight, bias, stride, {0}, dilation_in, groups)
                             : conv2d(input, weight, bias, stride, {0}, dilation_in, groups);
  }
  EMBER_CHECK(padding == "same", Error, "Invalid padding string: '", padding, "'");
  for (int64_t s : expand_param(stride, dims, "stride"))
    EMBER_CHECK(s == 1, Error, "padding='same' is not supported for strided convolutions");
  std::vector<int64_t> dilation = expand_param(dilation_in, dims, "dilation");
  EMBER_CHECK(weight->ndim() == spatial_dims + 2, Error, "Expected ", spatial_dims + 2,
              "-dimensional weight for conv", spatial_dims, "d, but got weight of size ", shape_str(weight->shape));
  // Total padding (k - 1) * d per dim; an odd total puts the extra element
  // at the end, as PyTorch does, by padding the input explicitly.
  std::vector<int64_t> symmetric(dims), extra_pad;  // extra_pad: F.pad order, last dim first
  bool asymmetric = false;
  for (size_t d = 0; d < dims; ++d) {
    const int64_t total = (weight->shape[2 + d] - 1) * dilation[d];
    symmetric[d] = total / 2;
    asymmetric |= total % 2 != 0;
  }
  Tensor x = input;
  if (asymmetric) {
    for (size_t d = dims; d-- > 0;) {
      const int64_t total = (weight->shape[2 + d] - 1) * dilation[d];
      extra_pad.push_back(0);
      extra_pad.push_back(total % 2);
    }
    x = constant_pad(input, extra_pad, 0.0);
  }
  return spatial_dims == 1 ? conv1d(x, weight, bias, stride, symmetric, dilation, groups)
                           : conv2d(x, weight, bias, stride, symmetric, dilation, groups);
}

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const std::vector<int64_t>& stride,
              const std::vector<int64_t>& padding, const std::vector<int64_t>& dilation, int64_t groups) {
  EMBER_CHECK(input->ndim() == 2 || input->ndim() == 3, Error,
              "Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: ",
              shape_str(input->shape));
  EMBER_CHECK(weight->ndim() == 3, Error, "Expected 3-dimensional weight for conv1d, but got weight of size ",
              shape_str(weight->shape));
  auto one = [](const std::vector<int64_t>& v, const char* name) {
    std::vector<int64_t> e = expand_param(v, 1, name);
    return std::vector<int64_t>{1, e[0]};
  };
  std::vector<int64_t> s = one(stride, "stride"), q = one(padding, "padding"), d = one(dilation, "dilation");
  q[0] = 0;
  // [N, C, L] -> [N, C, 1, L]: the height-1 convolution is the 1-D one.
  Tensor y = conv2d(unsqueeze(input, -2), unsqueeze(weight, 2), bias, s, q, d, groups);
  return squeeze(y, std::vector<int64_t>{-2});
}

Tensor constant_pad(const Tensor& input, const std::vector<int64_t>& pad, double value) {
  EMBER_CHECK(pad.size() % 2 == 0, Error, "Padding length must be divisible by 2");
  const int64_t nd = input->ndim(), pairs = static_cast<int64_t>(pad.size() / 2);
  EMBER_CHECK(pairs <= nd, Error,
              "Padding length should be less than or equal to two times the input dimension but got padding length ",
              pad.size(), " and input of dimension ", nd);
  // pad lists (before, after) pairs from the last dim backwards; negative
  // amounts crop, as in PyTorch.
  Shape out_shape = input->shape;
  std::vector<int64_t> before(nd, 0), after(nd, 0);
  for (int64_t i = 0; i < pairs; ++i) {
    const int64_t d = nd - 1 - i;
    before[d] = pad[2 * i], after[d] = pad[2 * i + 1];
    out_shape[d] = input->shape[d] + before[d] + after[d];
    EMBER_CHECK(out_shape[d] >= 0, Error, "The input size ", input->shape[d], ", plus negative padding ", before[d],
                " and ", after[d], " resulted in a negative output size, which is invalid. Check dimension ", d,
                " of your input.");
  }
  // The overlap of input and output, as a view of each.
  Tensor src = input;
  Tensor out;
  {
    NoGradGuard no_grad;
    out = full(out_shape, Scalar(value), input->dtype, input->device());
    Tensor dst = out;
    for (int64_t d = 0; d < nd; ++d) {
      const int64_t crop_lo = std::max<int64_t>(0, -before[d]), crop_hi = std::max<int64_t>(0, -after[d]);
      const int64_t keep = input->shape[d] - crop_lo - crop_hi;
      if (keep <= 0) {
        src = Tensor();
        break;
      }
      src = slice(src, d, crop_lo, crop_lo + keep, 1);
      const int64_t at = std::max<int64_t>(0, before[d]);
      dst = slice(dst, d, at, at + keep, 1);
    }
    if (src) copy_(dst, src);
    out = make_alias(out);
    out->view_base.reset();
  }
  if (should_record({&input})) {
    Shape in_shape = input->shape;
    record("ConstantPadNdBackward0", {input}, out, [before, after, in_shape](std::vector<Tensor>& g) {
      // The gradient is the output's gradient cropped back (negative
      // padding becomes zero-padding of the gradient).
      std::vector<int64_t> inverse;
      for (size_t d = in_shape.size(); d-- > 0;) {
        inverse.push_back(-before[d]);
        inverse.push_back(-after[d]);
      }
      return std::vector<Tensor>{constant_pad(g[0], inverse, 0.0)};
    });
  }
  return out;
}

}  // namespace ember
