// Grad mode and the backward engine, as seen from Python.
#include "convert.h"
#include "csrc/autograd/node.h"
#include "csrc/error.h"

namespace ember::bind {

namespace {
std::vector<Tensor> optional_tensors(py::handle seq, size_t n) {
  std::vector<Tensor> out(n);
  if (seq.is_none()) return out;
  size_t i = 0;
  for (py::handle h : seq) {
    if (i < n && !h.is_none()) out[i] = h.cast<Tensor>();
    ++i;
  }
  return out;
}
}  // namespace

void bind_autograd(py::module_& m) {
  m.def("is_grad_enabled", &grad_enabled);
  m.def("set_grad_enabled", &set_grad_enabled);
  m.def("requires_grad_", [](const Tensor& t, bool flag) {
    if (!t->is_leaf()) {
      EMBER_CHECK(flag, Error, "you can only change requires_grad flags of leaf variables. If you want to use a "
                  "computed variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach().");
      return t;
    }
    EMBER_CHECK(!flag || is_floating(t->dtype), Error,
                "only Tensors of floating point dtype can require gradients (got ", dtype_name(t->dtype), ")");
    t->autograd_meta().requires_grad = flag;
    return t;
  });
  m.def("backward", [](const std::vector<Tensor>& roots, py::handle grads, bool retain_graph, bool create_graph) {
    std::vector<Tensor> g = optional_tensors(grads, roots.size());
    py::gil_scoped_release release;
    run_backward(roots, g, retain_graph, create_graph);
  });
  m.def("grad", [](const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs, py::handle grads,
                   bool retain_graph, bool create_graph, bool allow_unused) {
    std::vector<Tensor> g = optional_tensors(grads, outputs.size());
    py::gil_scoped_release release;
    return run_grad(outputs, g, inputs, retain_graph, create_graph, allow_unused);
  });
}

}  // namespace ember::bind
