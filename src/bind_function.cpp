// ember.autograd.Function's graph node: a Node whose backward calls a Python
// callable. Conversion only: the callable (python/ember/autograd/function.py)
// does the user's arithmetic; this file checks what it returns against the
// inputs' shapes and hands it to the engine.
#include <string>

#include "convert.h"
#include "csrc/autograd/node.h"
#include "csrc/error.h"

namespace ember::bind {

namespace {

struct PythonFunctionNode : Node {
  std::string name_;
  py::object backward;  // grads tuple -> one gradient (or None) per input
  size_t num_inputs = 0;

  PythonFunctionNode(std::string name, py::object fn, size_t n)
      : name_(std::move(name)), backward(std::move(fn)), num_inputs(n) {}
  ~PythonFunctionNode() override {
    if (!backward) return;
    py::gil_scoped_acquire gil;  // the engine or a C++ owner may drop the last graph reference
    backward = py::object();
  }
  const char* name() const override { return name_.c_str(); }
  void release_saved() override {
    py::gil_scoped_acquire gil;
    backward = py::object();
  }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    py::gil_scoped_acquire gil;
    EMBER_CHECK(backward, Error, "Trying to backward through the graph a second time (or directly access saved "
                "tensors after they have already been freed) in ", name_, ". Saved intermediate values of the "
                "graph are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if you "
                "need to backward through the graph a second time.");
    py::tuple args(grads.size());
    for (size_t i = 0; i < grads.size(); ++i) args[i] = grads[i] ? py::cast(grads[i]) : py::none();
    // A Python exception here becomes error_already_set, which unwinds the
    // engine and reaches the caller of backward() as the original exception.
    py::object result = backward(args);
    py::sequence seq = result.cast<py::sequence>();
    EMBER_CHECK(seq.size() == num_inputs, Error, "function ", name_, " returned an incorrect number of gradients "
                "(expected ", num_inputs, ", got ", seq.size(), ")");
    std::vector<Tensor> out(num_inputs);
    for (size_t i = 0; i < num_inputs; ++i) {
      py::handle g = seq[i];
      if (g.is_none() || !next_edges[i].valid()) continue;
      EMBER_CHECK(py::isinstance<TensorImpl>(g), TypeError, "function ", name_, " returned a gradient of type ",
                  std::string(py::str(py::type::of(g).attr("__name__"))), " at index ", i,
                  "; expected a Tensor or None");
      Tensor t = g.cast<Tensor>();
      const OutputMeta& meta = next_edges[i].fn->outputs[next_edges[i].input_nr];
      EMBER_CHECK(t->shape == meta.shape, Error, "Function ", name_, " returned an invalid gradient at index ", i,
                  " - got ", shape_str(t->shape), " but expected shape compatible with ", shape_str(meta.shape));
      EMBER_CHECK(t->device() == meta.device, Error, "Function ", name_, " returned an invalid gradient at index ",
                  i, " - expected device ", meta.device.str(), " but got ", t->device().str());
      out[i] = t->dtype == meta.dtype ? t : to_dtype(t, meta.dtype);
    }
    return out;
  }
};

}  // namespace

void bind_function(py::module_& m) {
  // Makes `backward` the grad_fn of the differentiable `outputs`, with one
  // edge per entry of `inputs` (None or a tensor without grad: no edge).
  m.def("_function_record", [](const std::string& name, const std::vector<std::optional<Tensor>>& inputs,
                               const std::vector<Tensor>& outputs, py::object backward) {
    std::vector<Tensor> ins;
    ins.reserve(inputs.size());
    for (const auto& t : inputs) ins.push_back(t ? *t : Tensor());
    auto node = std::make_shared<PythonFunctionNode>(name, std::move(backward), ins.size());
    set_history(node, ins, outputs);
    return node_object(node);
  });
}

}  // namespace ember::bind
