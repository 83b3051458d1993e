// Convolution, padding and pooling functions of ember._C; nn.functional
// adapts PyTorch's argument forms (ints or tuples, padding strings) to these.
#include "convert.h"
#include "csrc/error.h"

namespace ember::bind {

void bind_conv(py::module_& m) {
  using IntList = std::vector<int64_t>;
  m.def("conv2d", [](const Tensor& x, const Tensor& w, const std::optional<Tensor>& b, const IntList& stride,
                     const IntList& padding, const IntList& dilation, int64_t groups) {
    return conv2d(x, w, b ? *b : Tensor(), stride, padding, dilation, groups);
  });
  m.def("conv1d", [](const Tensor& x, const Tensor& w, const std::optional<Tensor>& b, const IntList& stride,
                     const IntList& padding, const IntList& dilation, int64_t groups) {
    return conv1d(x, w, b ? *b : Tensor(), stride, padding, dilation, groups);
  });
  m.def("conv_string_padding", [](const Tensor& x, const Tensor& w, const std::optional<Tensor>& b,
                                  const IntList& stride, const std::string& padding, const IntList& dilation,
                                  int64_t groups, int spatial_dims) {
    return conv_string_padding(x, w, b ? *b : Tensor(), stride, padding, dilation, groups, spatial_dims);
  });
  m.def("constant_pad", [](const Tensor& x, const IntList& pad, double value) { return constant_pad(x, pad, value); });
  m.def("max_pool2d_with_indices", [](const Tensor& x, const IntList& kernel, const IntList& stride,
                                      const IntList& padding, const IntList& dilation, bool ceil_mode) {
    return max_pool2d_with_indices(x, kernel, stride, padding, dilation, ceil_mode);
  });
  m.def("avg_pool2d", [](const Tensor& x, const IntList& kernel, const IntList& stride, const IntList& padding,
                         bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
    return avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override);
  });
  m.def("adaptive_avg_pool2d", [](const Tensor& x, const IntList& size) { return adaptive_avg_pool2d(x, size); });
  m.def("adaptive_max_pool2d", [](const Tensor& x, const IntList& size) { return adaptive_max_pool2d(x, size); });
}

}  // namespace ember::bind
