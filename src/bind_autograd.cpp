// Grad mode and the backward engine, as seen from Python.
#include "convert.h"
#include "csrc/autograd/hooks.h"
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
// One Python subclass of Node per node name, so that type(y.grad_fn).__name__
// is "MulBackward0" as in PyTorch. Instances are created by pybind11 as Node
// and then switch class; the subclass shares Node's layout and deallocator.
py::object node_class(const char* name) {
  static py::dict* classes = new py::dict();  // lives as long as the module
  py::str key(name);
  if (classes->contains(key)) return (*classes)[key];
  py::object base = py::type::of<Node>();
  py::object meta = py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(Py_TYPE(base.ptr())));
  py::dict ns;
  ns["__slots__"] = py::tuple();
  ns["__module__"] = py::str("ember.autograd.graph");
  py::object cls = meta(key, py::make_tuple(base), ns);
  auto* sub = reinterpret_cast<PyTypeObject*>(cls.ptr());
  auto* node_type = reinterpret_cast<PyTypeObject*>(base.ptr());
  sub->tp_dealloc = node_type->tp_dealloc;
  sub->tp_free = node_type->tp_free;
  sub->tp_traverse = node_type->tp_traverse;
  sub->tp_clear = node_type->tp_clear;
  sub->tp_flags = (sub->tp_flags & ~Py_TPFLAGS_HAVE_GC) | (node_type->tp_flags & Py_TPFLAGS_HAVE_GC);
  PyType_Modified(sub);
  (*classes)[key] = cls;
  return cls;
}

// A Python callable held by the core. The last reference may be dropped by
// a graph freed from C++, so releasing it takes the GIL (unless the
// interpreter is already gone, when the object is abandoned).
std::shared_ptr<py::object> hold_callable(py::object fn) {
  return std::shared_ptr<py::object>(new py::object(std::move(fn)), [](py::object* p) {
    if (!Py_IsInitialized()) {
      p->release();
    } else {
      py::gil_scoped_acquire gil;
      p->dec_ref();
      p->release();
    }
    delete p;
  });
}

py::cpp_function remover_function(HookRemover remover) {
  return py::cpp_function([remover = std::move(remover)] { remover(); });
}

}  // namespace

py::object node_object(const std::shared_ptr<Node>& node) {
  if (!node) return py::none();
  py::object obj = py::cast(node);
  py::object cls = node_class(node->name());
  if (reinterpret_cast<PyObject*>(Py_TYPE(obj.ptr())) != cls.ptr()) {
    if (PyObject_SetAttrString(obj.ptr(), "__class__", cls.ptr()) != 0) PyErr_Clear();  // keep plain Node
  }
  return obj;
}

void bind_autograd(py::module_& m) {
  py::class_<Node, std::shared_ptr<Node>>(m, "Node")
      .def("name", [](const Node& n) { return std::string(n.name()); })
      .def_property_readonly("next_functions", [](const Node& n) {
        py::tuple out(n.next_edges.size());
        for (size_t i = 0; i < n.next_edges.size(); ++i) {
          const Edge& e = n.next_edges[i];
          out[i] = py::make_tuple(node_object(e.fn), e.input_nr);
        }
        return out;
      })
      .def_property_readonly("variable", [](const Node& n) -> py::object {
        if (auto* acc = dynamic_cast<const AccumulateGrad*>(&n)) return py::cast(acc->leaf);
        throw py::attribute_error("only AccumulateGrad nodes have a variable");
      })
      .def("__repr__", [](py::handle self) {
        const Node& n = self.cast<const Node&>();
        char buf[64];
        std::snprintf(buf, sizeof buf, " object at %p>", static_cast<const void*>(self.ptr()));
        return std::string("<") + n.name() + buf;
      });
  m.def("retain_grad", [](const Tensor& t) { retain_grad(t); });
  m.def("detach_", [](const Tensor& t) {
    // Cuts the tensor out of the graph in place (a view cannot be: its
    // base's history would still describe it).
    EMBER_CHECK(!(t->view_base && t->requires_grad() && !t->is_leaf()), Error,
                "Can't detach views in-place. Use detach() instead.");
    if (t->autograd) {
      t->autograd->grad_fn.reset();
      t->autograd->output_nr = 0;
      t->autograd->requires_grad = false;
    }
    return t;
  });
  m.def("retains_grad", [](const Tensor& t) { return t->autograd && t->autograd->retains_grad; });

  // Tensor hooks. The engine calls them on the thread running backward;
  // each call takes the GIL, and a Python exception raised by a hook
  // propagates out of backward() as that exception (pybind11 carries it
  // through the core as error_already_set). Result checks live in Python.
  m.def("register_hook", [](const Tensor& t, py::function fn) {
    auto held = hold_callable(std::move(fn));
    return remover_function(register_grad_hook(t, [held](const Tensor& grad) -> Tensor {
      py::gil_scoped_acquire gil;
      py::object result = (*held)(grad);
      return result.is_none() ? Tensor() : result.cast<Tensor>();
    }));
  });
  m.def("register_post_accumulate_grad_hook", [](const Tensor& t, py::function fn) {
    auto held = hold_callable(std::move(fn));
    return remover_function(register_post_accumulate_grad_hook(t, [held](const Tensor& leaf) {
      py::gil_scoped_acquire gil;
      (*held)(leaf);
    }));
  });

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
    // Without the GIL, so that threads training their own models overlap:
    // the engine touches no Python object, and it writes each .grad under
    // grad_mutex(), which the Python accessors of .grad take too.
    py::gil_scoped_release nogil;
    run_backward(roots, g, retain_graph, create_graph);
  });
  m.def("grad", [](const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs, py::handle grads,
                   bool retain_graph, bool create_graph, bool allow_unused) {
    std::vector<Tensor> g = optional_tensors(grads, outputs.size());
    return run_grad(outputs, g, inputs, retain_graph, create_graph, allow_unused);
  });
}

}  // namespace ember::bind
