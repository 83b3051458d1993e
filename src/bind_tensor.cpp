// The Tensor class, dtype and device objects: attributes, operators and the
// methods with fixed signatures. Methods with PyTorch's flexible signatures
// (dim/axis aliases, *sizes) are added in python/ember/_tensor.py.
#include <pybind11/operators.h>

#include "convert.h"
#include "csrc/autograd/node.h"
#include "csrc/error.h"
#include "gil.h"

namespace ember::bind {

namespace {

// ember.Size, installed by the Python package; never destroyed (a static
// py::object would be released after the interpreter finalized).
py::object& g_size_class = *new py::object();

py::object make_size(const Shape& shape) {
  py::tuple t(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) t[i] = py::int_(shape[i]);
  return g_size_class ? g_size_class(t) : py::object(t);
}

PyDevice device_of(const Tensor& t) { return PyDevice{t->device(), true}; }

// a OP b where b may be a Python number.
template <BinaryOp OP>
Tensor bin(const Tensor& a, py::handle b) {
  Tensor tb = as_operand(b, a->device(), "binary op");
  ReleaseGilIf nogil(any_large(a, tb));
  return binary(OP, a, tb);
}
template <BinaryOp OP>
Tensor rbin(const Tensor& a, py::handle b) {
  Tensor tb = as_operand(b, a->device(), "binary op");
  ReleaseGilIf nogil(any_large(a, tb));
  return binary(OP, tb, a);
}
template <BinaryOp OP>
Tensor ibin(Tensor a, py::handle b) {
  Tensor tb = as_operand(b, a->device(), "in-place op");
  ReleaseGilIf nogil(any_large(a, tb));
  binary_(OP, a, tb);
  return a;
}

const char* legacy_type_name(DType t) {
  switch (t) {
    case DType::Float32: return "ember.FloatTensor";
    case DType::Float64: return "ember.DoubleTensor";
    case DType::Float16: return "ember.HalfTensor";
    case DType::BFloat16: return "ember.BFloat16Tensor";
    case DType::Int64: return "ember.LongTensor";
    case DType::Int32: return "ember.IntTensor";
    case DType::Int16: return "ember.ShortTensor";
    case DType::Int8: return "ember.CharTensor";
    case DType::UInt8: return "ember.ByteTensor";
    case DType::Bool: return "ember.BoolTensor";
  }
  return "ember.Tensor";
}

}  // namespace

void bind_tensor(py::module_& m) {
  // ---- dtype ----
  py::enum_<DType> dtype(m, "dtype");
  for (int i = 0; i < kNumDTypes; ++i) {
    DType t = static_cast<DType>(i);
    dtype.value(dtype_name(t), t);
  }
  // Assigned rather than def'd: py::enum_ already defines __repr__/__str__, and
  // def() would only add a later overload that the generic one shadows.
  dtype.attr("__repr__") = py::cpp_function([](DType t) { return std::string("ember.") + dtype_name(t); },
                                            py::name("__repr__"), py::is_method(dtype));
  dtype.attr("__str__") = py::cpp_function([](DType t) { return std::string("ember.") + dtype_name(t); },
                                           py::name("__str__"), py::is_method(dtype));
  dtype.def_property_readonly("is_floating_point", [](DType t) { return is_floating(t); })
      .def_property_readonly("is_signed", [](DType t) { return t != DType::Bool && t != DType::UInt8; })
      .def_property_readonly("itemsize", [](DType t) { return itemsize(t); });
  m.def("promote_types", [](DType a, DType b) { return promote_types(a, b); });

  // ---- device ----
  py::class_<PyDevice>(m, "device")
      .def(py::init([](py::object spec, py::object index) {
             if (py::isinstance<PyDevice>(spec)) return spec.cast<PyDevice>();
             if (PyLong_Check(spec.ptr())) return PyDevice{Device{DeviceType::CUDA, spec.cast<int>()}, true};
             bool has_index = false;
             Device d = parse_device(spec.cast<std::string>(), &has_index);
             if (!index.is_none()) {
               EMBER_CHECK(!has_index, Error, "type (string) must not include an index because index was passed "
                           "explicitly: ", spec.cast<std::string>());
               d.index = index.cast<int>();
               has_index = true;
               EMBER_CHECK(d.type == DeviceType::CUDA || d.index == 0, Error, "CPU device index must be 0");
             }
             if (d.is_cpu()) has_index = false;
             return PyDevice{d, has_index};
           }),
           py::arg("type"), py::arg("index") = py::none())
      .def_property_readonly("type", [](const PyDevice& d) { return d.device.is_cpu() ? "cpu" : "cuda"; })
      .def_property_readonly("index", [](const PyDevice& d) -> py::object {
        if (d.device.is_cpu() || !d.has_index) return py::none();
        return py::int_(d.device.index);
      })
      .def("__repr__", [](const PyDevice& d) {
        if (d.device.is_cpu()) return std::string("device(type='cpu')");
        if (!d.has_index) return std::string("device(type='cuda')");
        return "device(type='cuda', index=" + std::to_string(d.device.index) + ")";
      })
      .def("__str__", [](const PyDevice& d) {
        if (d.device.is_cuda() && !d.has_index) return std::string("cuda");
        return d.device.str();
      })
      .def("__eq__", [](const PyDevice& a, py::object b) {
        if (py::isinstance<py::str>(b)) {
          bool hi = false;
          Device other = parse_device(b.cast<std::string>(), &hi);
          return a.device == other && (a.has_index == hi || a.device.is_cpu());
        }
        if (!py::isinstance<PyDevice>(b)) return false;
        PyDevice o = b.cast<PyDevice>();
        return a.device == o.device && (a.has_index == o.has_index || a.device.is_cpu());
      })
      .def("__hash__", [](const PyDevice& d) { return static_cast<int>(d.device.type) * 1000 + d.device.index; });

  // grad_fn objects (class Node and its per-name subclasses) are bound in bind_autograd.cpp.

  m.def("_set_size_class", [](py::object cls) { g_size_class = cls; });

  // ---- Tensor ----
  py::class_<TensorImpl, Tensor> cls(m, "Tensor", py::dynamic_attr());
  cls.def(py::init([](py::object data) -> Tensor {
        if (data.is_none()) return make_empty({0}, DType::Float32, Device{});
        if (py::isinstance<TensorImpl>(data)) {
          // An alias sharing storage (used by nn.Parameter).
          Tensor a = make_alias(data.cast<Tensor>());
          return a;
        }
        return tensor_from_data(data, DType::Float32, Device{});
      }),
      py::arg("data") = py::none());

  // attributes
  cls.def_property_readonly("shape", [](const Tensor& t) { return make_size(t->shape); })
      .def_property_readonly("dtype", [](const Tensor& t) { return t->dtype; })
      .def_property_readonly("device", device_of)
      .def_property_readonly("ndim", [](const Tensor& t) { return t->ndim(); })
      .def_property_readonly("is_cuda", [](const Tensor& t) { return t->device().is_cuda(); })
      .def_property_readonly("is_leaf", [](const Tensor& t) { return t->is_leaf(); })
      .def_property_readonly("grad_fn", [](const Tensor& t) { return node_object(t->grad_fn()); })
      .def_property_readonly("_version", [](const Tensor& t) { return t->current_version(); })
      .def_property_readonly("_base", [](const Tensor& t) { return t->view_base; })
      .def_property_readonly("is_floating_point_", [](const Tensor& t) { return is_floating(t->dtype); })
      .def_property(
          "requires_grad", [](const Tensor& t) { return t->requires_grad(); },
          [](const Tensor& t, bool flag) {
            if (!t->is_leaf()) {
              EMBER_CHECK(flag, Error, "you can only change requires_grad flags of leaf variables. If you want to use "
                          "a computed variable in a subgraph that doesn't require differentiation use "
                          "var_no_grad = var.detach().");
              return;
            }
            EMBER_CHECK(!flag || is_floating(t->dtype), Error,
                        "only Tensors of floating point dtype can require gradients (got ", dtype_name(t->dtype), ")");
            t->autograd_meta().requires_grad = flag;
          })
      .def_property(
          "grad",
          [](const Tensor& t) {
            if (!t->is_leaf() && !t->autograd->retains_grad && !t->autograd->grad) {
              // As PyTorch: reading a non-leaf's .grad is almost always a mistake.
              if (PyErr_WarnEx(PyExc_UserWarning,
                               "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its "
                               ".grad attribute won't be populated during autograd.backward(). If you indeed want "
                               "the .grad field to be populated for a non-leaf Tensor, use .retain_grad() on the "
                               "non-leaf Tensor. If you access the non-leaf Tensor by mistake, make sure you access "
                               "the leaf Tensor instead.", 1) != 0)
                throw py::error_already_set();
            }
            std::lock_guard<std::mutex> lock(grad_mutex(t.get()));  // backward may be writing it
            return t->autograd ? t->autograd->grad : Tensor();
          },
          [](const Tensor& t, py::object g) {
            Tensor previous;  // freed after the lock: it may take the GIL's owner's locks
            if (g.is_none()) {
              std::lock_guard<std::mutex> lock(grad_mutex(t.get()));
              if (t->autograd) previous = std::move(t->autograd->grad);
              return;
            }
            Tensor gt = g.cast<Tensor>();
            EMBER_CHECK(gt->shape == t->shape, Error, "assigned grad has data of a different size: ",
                        shape_str(gt->shape), " vs ", shape_str(t->shape));
            EMBER_CHECK(gt->dtype == t->dtype, TypeError, "assigned grad has data of a different type");
            EMBER_CHECK(gt->device() == t->device(), Error, "assigned grad has data located on a different device");
            std::lock_guard<std::mutex> lock(grad_mutex(t.get()));
            previous = std::move(t->autograd_meta().grad);
            t->autograd_meta().grad = gt;
          })
      .def_property(
          "data", [](const Tensor& t) { return detach(t); },
          [](const Tensor& t, const Tensor& other) {
            // Rebinds the memory, keeping identity and autograd flags (as
            // PyTorch's `param.data = ...` does; used by Module.to()).
            t->storage = other->storage;
            t->shape = other->shape;
            t->strides = other->strides;
            t->offset = other->offset;
            t->dtype = other->dtype;
            t->version = other->version;
          });

  cls.def("dim", [](const Tensor& t) { return t->ndim(); })
      .def("numel", [](const Tensor& t) { return t->numel(); })
      .def("nelement", [](const Tensor& t) { return t->numel(); })
      .def("element_size", [](const Tensor& t) { return itemsize(t->dtype); })
      .def("is_contiguous", [](const Tensor& t) { return t->is_contiguous(); })
      .def("is_floating_point", [](const Tensor& t) { return is_floating(t->dtype); })
      .def("storage_offset", [](const Tensor& t) { return t->offset; })
      .def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t->data_bytes()); })
      .def("_storage_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t->storage->data); })
      .def("_storage_nbytes", [](const Tensor& t) { return t->storage->nbytes; })
      .def("_strides", [](const Tensor& t) { return t->strides; })
      .def("__len__", [](const Tensor& t) {
        EMBER_CHECK(t->ndim() > 0, TypeError, "len() of a 0-d tensor");
        return t->shape[0];
      })
      .def("item", [](const Tensor& t) -> py::object {
        Scalar s = item(t);
        if (s.kind == Scalar::Kind::Float) return py::float_(s.f);
        if (s.kind == Scalar::Kind::Bool) return py::bool_(s.i != 0);
        return py::int_(s.i);
      })
      .def("__float__", [](const Tensor& t) {
        EMBER_CHECK(t->numel() == 1, ValueError, "only one element tensors can be converted to Python scalars");
        return item(t).to_double();
      })
      .def("__int__", [](const Tensor& t) {
        EMBER_CHECK(t->numel() == 1, ValueError, "only one element tensors can be converted to Python scalars");
        return item(t).to_int();
      })
      .def("__index__", [](const Tensor& t) {
        EMBER_CHECK(!is_floating(t->dtype) && t->numel() == 1, TypeError,
                    "only integer tensors of a single element can be converted to an index");
        return item(t).i;
      })
      .def("__bool__", [](const Tensor& t) {
        EMBER_CHECK(t->numel() == 1, Error, "Boolean value of Tensor with more than one value is ambiguous");
        return item(t).to_double() != 0.0;
      })
      .def("numpy", [](const Tensor& t) { return to_numpy(t); })
      .def("type_name", [](const Tensor& t) { return legacy_type_name(t->dtype); });

  // operators
  cls.def("__add__", bin<BinaryOp::Add>)
      .def("__radd__", bin<BinaryOp::Add>)  // PyTorch: self.add(other)
      .def("__iadd__", ibin<BinaryOp::Add>)
      .def("__sub__", bin<BinaryOp::Sub>)
      .def("__rsub__", rbin<BinaryOp::Sub>)
      .def("__isub__", ibin<BinaryOp::Sub>)
      .def("__mul__", bin<BinaryOp::Mul>)
      .def("__rmul__", bin<BinaryOp::Mul>)  // PyTorch: self.mul(other)
      .def("__imul__", ibin<BinaryOp::Mul>)
      .def("__truediv__", bin<BinaryOp::Div>)
      .def("__rtruediv__", rbin<BinaryOp::Div>)
      .def("__itruediv__", ibin<BinaryOp::Div>)
      .def("__floordiv__", bin<BinaryOp::FloorDiv>)
      .def("__rfloordiv__", rbin<BinaryOp::FloorDiv>)
      .def("__ifloordiv__", ibin<BinaryOp::FloorDiv>)
      .def("__mod__", bin<BinaryOp::Remainder>)
      .def("__rmod__", rbin<BinaryOp::Remainder>)
      .def("__imod__", ibin<BinaryOp::Remainder>)
      .def("__rpow__", rbin<BinaryOp::Pow>)
      .def("__ipow__", ibin<BinaryOp::Pow>)
      .def("__and__", bin<BinaryOp::BitAnd>)
      .def("__rand__", rbin<BinaryOp::BitAnd>)
      .def("__iand__", ibin<BinaryOp::BitAnd>)
      .def("__or__", bin<BinaryOp::BitOr>)
      .def("__ror__", rbin<BinaryOp::BitOr>)
      .def("__ior__", ibin<BinaryOp::BitOr>)
      .def("__xor__", bin<BinaryOp::BitXor>)
      .def("__rxor__", rbin<BinaryOp::BitXor>)
      .def("__ixor__", ibin<BinaryOp::BitXor>)
      .def("__lt__", bin<BinaryOp::Lt>)
      .def("__le__", bin<BinaryOp::Le>)
      .def("__gt__", bin<BinaryOp::Gt>)
      .def("__ge__", bin<BinaryOp::Ge>)
      .def("__eq__", [](const Tensor& a, py::handle b) -> py::object {
        if (!py::isinstance<TensorImpl>(b) && !as_scalar(b)) return py::bool_(false);
        return py::cast(bin<BinaryOp::Eq>(a, b));
      })
      .def("__ne__", [](const Tensor& a, py::handle b) -> py::object {
        if (!py::isinstance<TensorImpl>(b) && !as_scalar(b)) return py::bool_(true);
        return py::cast(bin<BinaryOp::Ne>(a, b));
      })
      .def("__hash__", [](py::handle self) { return reinterpret_cast<intptr_t>(self.ptr()) >> 4; })
      .def("__pow__", [](const Tensor& a, py::handle b) {
        if (auto s = as_scalar(b); s && is_floating(a->dtype)) {
          if (s->to_double() == 2.0) return unary(UnaryOp::Square, a);
          return pow_scalar(a, s->to_double());
        }
        return bin<BinaryOp::Pow>(a, b);
      })
      .def("__matmul__", [](const Tensor& a, const Tensor& b) {
        ReleaseGilIf nogil(any_large(a, b));
        return matmul(a, b);
      })
      .def("__rmatmul__", [](const Tensor& a, const Tensor& b) { return matmul(b, a); })
      .def("__neg__", [](const Tensor& a) { return neg(a); })
      .def("__pos__", [](const Tensor& a) { return a; })
      .def("__abs__", [](const Tensor& a) { return unary(UnaryOp::Abs, a); })
      .def("__invert__", [](const Tensor& a) {
        return a->dtype == DType::Bool ? unary(UnaryOp::LogicalNot, a) : unary(UnaryOp::BitwiseNot, a);
      })
      .def("__getitem__", [](const Tensor& a, py::handle idx) { return index(a, parse_index(idx, a->device())); })
      .def("__setitem__", [](Tensor a, py::handle idx, py::handle value) {
        auto items = parse_index(idx, a->device());
        Tensor v = py::isinstance<TensorImpl>(value) ? value.cast<Tensor>()
                                                     : tensor_from_data(value, a->dtype, a->device());
        index_put_(a, items, v);
      });
}

}  // namespace ember::bind
