// Conversion between Python objects and core values, shared by the binding
// files. No arithmetic happens here.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "tensor_caster.h"

#include <optional>
#include <vector>

#include "csrc/ops/ops.h"

namespace py = pybind11;

namespace ember::bind {

// A device as Python sees it: "cuda" without an index stays index-less.
struct PyDevice {
  Device device;
  bool has_index = true;
};

// Python number (bool, int, float, numpy scalar) -> Scalar; nullopt if not a number.
std::optional<Scalar> as_scalar(py::handle obj);
// Tensor operand for a binary op: tensors pass through, numbers become
// wrapped 0-d tensors on `device`; TypeError otherwise.
Tensor as_operand(py::handle obj, Device device, const char* op);
// Sizes from `f(2, 3)`, `f((2, 3))`, `f([2, 3])` or `size=`.
Shape parse_size(const py::args& args, const py::object& size_kw = py::none());
Shape as_shape(py::handle obj);
// dim=None / int / tuple / list -> dims (empty = all).
std::vector<int64_t> parse_dims(py::handle obj);
DType as_dtype(py::handle obj);  // ember dtype object, numpy dtype or Python type
std::optional<DType> as_optional_dtype(py::handle obj);
Device as_device(py::handle obj);  // str, ember.device, int (cuda index) or None (cpu)
// Parses a subscript (int, slice, None, Ellipsis, tensor, list, bool, tuple).
std::vector<IndexItem> parse_index(py::handle index, Device device);
// Copies nested Python data / numpy arrays into a new tensor.
Tensor tensor_from_data(py::handle data, std::optional<DType> dtype, Device device);
// numpy interop (memory shared both ways).
Tensor from_numpy(py::array array);
py::object to_numpy(const Tensor& t);
// A grad_fn as Python sees it: an instance of a Node subclass named after
// the op (MulBackward0, ...), as in PyTorch; None for a null node.
py::object node_object(const std::shared_ptr<Node>& node);

}  // namespace ember::bind
