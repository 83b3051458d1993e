// Normalization ops of ember._C (batch_norm, layer_norm) with PyTorch's
// argument order; nn.functional adds the Python-side conveniences.
#include "convert.h"

namespace ember::bind {

namespace {
Tensor or_null(const std::optional<Tensor>& t) { return t ? *t : Tensor(); }
}  // namespace

void bind_norm(py::module_& m) {
  m.def(
      "batch_norm",
      [](const Tensor& input, const std::optional<Tensor>& weight, const std::optional<Tensor>& bias,
         const std::optional<Tensor>& running_mean, const std::optional<Tensor>& running_var, bool training,
         double momentum, double eps) {
        return batch_norm(input, or_null(weight), or_null(bias), or_null(running_mean), or_null(running_var),
                          training, momentum, eps);
      },
      py::arg("input"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
      py::arg("running_mean") = py::none(), py::arg("running_var") = py::none(), py::arg("training") = false,
      py::arg("momentum") = 0.1, py::arg("eps") = 1e-5);
  m.def(
      "layer_norm",
      [](const Tensor& input, py::handle normalized_shape, const std::optional<Tensor>& weight,
         const std::optional<Tensor>& bias, double eps) {
        return layer_norm(input, as_shape(normalized_shape), or_null(weight), or_null(bias), eps);
      },
      py::arg("input"), py::arg("normalized_shape"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
      py::arg("eps") = 1e-5);
}

}  // namespace ember::bind
