// Python <-> core conversions used by every binding file.
#include "convert.h"

#include <cstring>

#include "csrc/error.h"

namespace ember::bind {

namespace {
py::module_& numpy() {
  // Never destroyed: a static py::object's destructor runs after the
  // interpreter has finalized, and releasing numpy then crashed the process
  // at exit (seen once matplotlib and pandas were loaded too).
  static py::module_* np = new py::module_(py::module_::import("numpy"));
  return *np;
}

bool is_tensor(py::handle obj) { return py::isinstance<TensorImpl>(obj); }

DType dtype_from_numpy(const py::dtype& dt) {
  char kind = dt.kind();
  size_t size = static_cast<size_t>(dt.itemsize());
  if (kind == 'b') return DType::Bool;
  if (kind == 'f') {
    if (size == 2) return DType::Float16;
    if (size == 4) return DType::Float32;
    if (size == 8) return DType::Float64;
  }
  if (kind == 'i') {
    if (size == 1) return DType::Int8;
    if (size == 2) return DType::Int16;
    if (size == 4) return DType::Int32;
    if (size == 8) return DType::Int64;
  }
  if (kind == 'u' && size == 1) return DType::UInt8;
  throw TypeError(str("can't convert np.ndarray of type ", std::string(py::str(dt)),
                      ". The only supported types are: float64, float32, float16, int64, int32, int16, int8, uint8, "
                      "and bool."));
}

// numpy has every ember dtype under the same name except bfloat16.
const char* numpy_name(DType t) {
  if (t == DType::BFloat16) throw TypeError("Got unsupported ScalarType BFloat16 for numpy()");
  return dtype_name(t);
}
}  // namespace

std::optional<Scalar> as_scalar(py::handle obj) {
  PyObject* p = obj.ptr();
  if (PyBool_Check(p)) return Scalar::boolean(p == Py_True);
  if (PyLong_Check(p)) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(p, &overflow);
    if (overflow) throw Error("Overflow when unpacking long: value does not fit in int64");
    return Scalar(static_cast<int64_t>(v));
  }
  if (PyFloat_Check(p)) return Scalar(PyFloat_AS_DOUBLE(p));
  // numpy scalars
  if (py::isinstance(obj, numpy().attr("generic"))) {
    std::string kind = py::str(obj.attr("dtype").attr("kind"));
    if (kind == "b") return Scalar::boolean(obj.cast<bool>());
    if (kind == "i" || kind == "u") return Scalar(obj.attr("__int__")().cast<int64_t>());
    if (kind == "f") return Scalar(obj.attr("__float__")().cast<double>());
  }
  return std::nullopt;
}

Tensor as_operand(py::handle obj, Device device, const char* op) {
  if (is_tensor(obj)) return obj.cast<Tensor>();
  if (auto s = as_scalar(obj)) return wrap_scalar(*s, device);
  throw TypeError(str(op, "(): argument 'other' must be Tensor or Number, not ",
                      std::string(py::str(obj.get_type().attr("__name__")))));
}

Shape as_shape(py::handle obj) {
  Shape shape;
  if (PyLong_Check(obj.ptr())) return {obj.cast<int64_t>()};
  if (!py::isinstance<py::sequence>(obj) || py::isinstance<py::str>(obj))
    throw TypeError(str("size must be a tuple of ints, not ", std::string(py::str(obj.get_type().attr("__name__")))));
  for (py::handle h : obj) {
    if (!PyLong_Check(h.ptr()) || PyBool_Check(h.ptr())) {
      if (is_tensor(h) && h.cast<Tensor>()->numel() == 1 && !is_floating(h.cast<Tensor>()->dtype)) {
        shape.push_back(item(h.cast<Tensor>()).i);
        continue;
      }
      throw TypeError(str("size must be a tuple of ints, but found element of type ",
                          std::string(py::str(h.get_type().attr("__name__")))));
    }
    shape.push_back(h.cast<int64_t>());
  }
  return shape;
}

Shape parse_size(const py::args& args, const py::object& size_kw) {
  if (!size_kw.is_none()) {
    if (args.size() > 0) throw TypeError("size was given both positionally and as the size= keyword");
    return as_shape(size_kw);
  }
  if (args.size() == 1 && !PyLong_Check(args[0].ptr())) return as_shape(args[0]);
  Shape shape;
  for (py::handle h : args) {
    if (!PyLong_Check(h.ptr()) || PyBool_Check(h.ptr()))
      throw TypeError(str("size must be a sequence of ints, but got an element of type ",
                          std::string(py::str(h.get_type().attr("__name__")))));
    shape.push_back(h.cast<int64_t>());
  }
  return shape;
}

std::vector<int64_t> parse_dims(py::handle obj) {
  if (obj.is_none()) return {};
  if (PyLong_Check(obj.ptr())) return {obj.cast<int64_t>()};
  std::vector<int64_t> dims;
  if (py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj)) {
    for (py::handle h : obj) {
      if (!PyLong_Check(h.ptr()) || PyBool_Check(h.ptr()))
        throw TypeError(str("dim must be an int, a tuple or a list of ints, but got an element of type ",
                            std::string(py::str(h.get_type().attr("__name__")))));
      dims.push_back(h.cast<int64_t>());
    }
    if (dims.empty()) throw TypeError("dim must be an int, a tuple or a list of ints, not an empty sequence");
    return dims;
  }
  throw TypeError(str("dim must be an int, a tuple or a list of ints, not ",
                      std::string(py::str(obj.get_type().attr("__name__")))));
}

DType as_dtype(py::handle obj) {
  if (py::isinstance<DType>(obj)) return obj.cast<DType>();
  if (obj.ptr() == reinterpret_cast<PyObject*>(&PyFloat_Type)) return DType::Float64;
  if (obj.ptr() == reinterpret_cast<PyObject*>(&PyLong_Type)) return DType::Int64;
  if (obj.ptr() == reinterpret_cast<PyObject*>(&PyBool_Type)) return DType::Bool;
  if (py::isinstance<py::str>(obj)) return dtype_from_name(obj.cast<std::string>());
  try {
    return dtype_from_numpy(py::dtype::from_args(py::reinterpret_borrow<py::object>(obj)));
  } catch (const py::error_already_set&) {
  }
  throw TypeError(str("dtype must be an ember.dtype, got ", std::string(py::repr(obj))));
}

std::optional<DType> as_optional_dtype(py::handle obj) {
  if (obj.is_none()) return std::nullopt;
  return as_dtype(obj);
}

Device as_device(py::handle obj) {
  if (obj.is_none()) return Device{};
  if (py::isinstance<PyDevice>(obj)) return obj.cast<PyDevice>().device;
  if (py::isinstance<py::str>(obj)) return parse_device(obj.cast<std::string>());
  if (PyLong_Check(obj.ptr())) {
    int64_t i = obj.cast<int64_t>();
    EMBER_CHECK(i >= 0, Error, "Device index must not be negative");
    return Device{DeviceType::CUDA, static_cast<int>(i)};
  }
  throw TypeError(str("expected a device (str, ember.device or int), got ", std::string(py::repr(obj))));
}

std::vector<IndexItem> parse_index(py::handle index, Device device) {
  std::vector<IndexItem> items;
  auto one = [&](py::handle h) {
    IndexItem it{IndexItem::Kind::None};
    PyObject* p = h.ptr();
    if (h.is_none()) {
      it.kind = IndexItem::Kind::None;
    } else if (p == Py_Ellipsis) {
      it.kind = IndexItem::Kind::Ellipsis;
    } else if (PyBool_Check(p)) {
      it.kind = IndexItem::Kind::Tensor;
      it.tensor = scalar_tensor(Scalar::boolean(p == Py_True), DType::Bool, device);
    } else if (PyLong_Check(p)) {
      it.kind = IndexItem::Kind::Int;
      it.integer = h.cast<int64_t>();
    } else if (PySlice_Check(p)) {
      it.kind = IndexItem::Kind::Slice;
      auto s = h.cast<py::slice>();
      auto get = [](py::object o) -> std::optional<int64_t> {
        if (o.is_none()) return std::nullopt;
        if (py::isinstance<TensorImpl>(o)) return item(o.cast<Tensor>()).i;
        return py::int_(o).cast<int64_t>();
      };
      it.start = get(s.attr("start"));
      it.stop = get(s.attr("stop"));
      auto step = get(s.attr("step"));
      it.step = step.value_or(1);
      if (it.step <= 0) throw ValueError("step must be greater than zero");
    } else if (is_tensor(h)) {
      Tensor t = h.cast<Tensor>();
      if (t->ndim() == 0 && !is_floating(t->dtype) && t->dtype != DType::Bool) {
        it.kind = IndexItem::Kind::Int;  // 0-d integer tensors index like ints
        it.integer = item(t).i;
      } else {
        it.kind = IndexItem::Kind::Tensor;
        it.tensor = t;
      }
    } else if (py::isinstance<py::array>(h) || py::isinstance<py::list>(h) || PyRange_Check(p) ||
               py::isinstance(h, numpy().attr("generic"))) {
      // Lists and ranges of ints index like integer tensors (D2L: y_hat[range(n), y]).
      it.kind = IndexItem::Kind::Tensor;
      py::object seq = py::reinterpret_borrow<py::object>(h);
      it.tensor = tensor_from_data(PyRange_Check(p) ? py::object(py::list(seq)) : seq,
                                   std::nullopt, device);
      if (it.tensor->ndim() == 0 && it.tensor->dtype != DType::Bool) {
        EMBER_CHECK(!is_floating(it.tensor->dtype), IndexError,
                    "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices");
        it.kind = IndexItem::Kind::Int;
        it.integer = item(it.tensor).i;
      }
    } else if (py::isinstance<py::str>(h)) {
      throw TypeError("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid "
                      "indices (got str)");
    } else {
      throw IndexError(str("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid "
                           "indices (got ", std::string(py::str(h.get_type().attr("__name__"))), ")"));
    }
    if (it.kind == IndexItem::Kind::Tensor && is_floating(it.tensor->dtype))
      throw IndexError("tensors used as indices must be long, int, byte or bool tensors");
    items.push_back(it);
  };
  if (py::isinstance<py::tuple>(index)) {
    for (py::handle h : index) one(h);
  } else {
    one(index);
  }
  return items;
}

Tensor tensor_from_data(py::handle data, std::optional<DType> dtype, Device device) {
  if (is_tensor(data)) {
    // PyTorch copies (and warns); ember copies silently.
    Tensor src = data.cast<Tensor>();
    Tensor out = clone(detach(to_device(src, device)));
    return dtype ? to_dtype(out, *dtype) : out;
  }
  py::array arr;
  bool from_python = !py::isinstance<py::array>(data);
  if (auto s = as_scalar(data); s && from_python && !py::isinstance(data, numpy().attr("generic"))) {
    DType dt = dtype ? *dtype : s->natural_dtype();
    return scalar_tensor(*s, dt, device);
  }
  try {
    arr = numpy().attr("asarray")(data);
  } catch (py::error_already_set& e) {
    // numpy rejects ragged nested lists with ValueError, as PyTorch does.
    if (e.matches(PyExc_ValueError)) throw ValueError(str("could not convert data to a tensor: ", e.what()));
    throw TypeError(str("could not convert data to a tensor: ", e.what()));
  }
  std::string kind = py::str(arr.dtype().attr("kind"));
  if (kind == "O") {
    // Say what PyTorch says: ints beyond int64 overflow (ValueError); other
    // objects have no dtype to infer (RuntimeError); strings are TypeErrors.
    py::list flat = arr.attr("ravel")().attr("tolist")();
    for (py::handle h : flat) {
      if (PyLong_Check(h.ptr())) throw ValueError("Overflow when unpacking long: value does not fit in int64");
      if (py::isinstance<py::str>(h)) throw TypeError("new(): invalid data type 'str'");
      if (!as_scalar(h))
        throw Error(str("Could not infer dtype of ", std::string(py::str(h.get_type().attr("__name__")))));
    }
  }
  if (kind == "O" || kind == "U" || kind == "S")
    throw TypeError(str("can't convert ", std::string(py::repr(data)).substr(0, 80),
                        " to a tensor: only numbers, nested lists of numbers and arrays are supported (ragged nested "
                        "sequences are not)"));
  // Python floats are read as float64 (numpy's value) and rounded once to
  // the target: dtype=float64 must keep 0.1 exact, not pass through float32.
  DType natural, inferred;
  if (from_python && !py::isinstance(data, numpy().attr("generic"))) {
    natural = kind == "f" ? DType::Float64 : kind == "b" ? DType::Bool : DType::Int64;
    inferred = kind == "f" ? DType::Float32 : natural;
  } else {
    natural = inferred = dtype_from_numpy(arr.dtype());
  }
  DType target = dtype.value_or(inferred);
  py::array contiguous_arr = numpy().attr("ascontiguousarray")(arr, numpy_name(natural));
  // ascontiguousarray promotes 0-d arrays to 1-d: take the shape from `arr`.
  Shape shape(arr.shape(), arr.shape() + arr.ndim());
  Tensor host = from_host(contiguous_arr.data(), shape, natural, Device{});
  return to_device(to_dtype(host, target), device);
}

Tensor from_numpy(py::array array) {
  if (!array.writeable()) {
    // Sharing read-only memory (a read-only memmap, np.broadcast_to) would
    // let an in-place op write to it and crash the process; copy instead.
    if (PyErr_WarnEx(PyExc_UserWarning,
                     "The given NumPy array is not writable; ember.from_numpy copies it instead of sharing its "
                     "memory",
                     1) < 0)
      throw py::error_already_set();  // warnings turned into errors
    array = py::array(numpy().attr("array")(array));
  }
  DType dt = dtype_from_numpy(array.dtype());
  int64_t isz = static_cast<int64_t>(itemsize(dt));
  Shape shape, strides;
  for (py::ssize_t d = 0; d < array.ndim(); ++d) {
    shape.push_back(array.shape(d));
    py::ssize_t s = array.strides(d);
    EMBER_CHECK(s >= 0, ValueError, "At least one stride in the given numpy array is negative, and tensors with "
                "negative strides are not currently supported. (You can probably work around this by making a copy "
                "of your array with array.copy().)");
    EMBER_CHECK(s % isz == 0, ValueError, "given numpy array strides not a multiple of the element byte size. Copy "
                "the numpy array to reallocate the memory.");
    strides.push_back(s / isz);
  }
  // Keep the array alive for as long as any view of its memory exists.
  auto* owner = new py::object(array);
  size_t span = static_cast<size_t>(array.nbytes());
  auto storage = borrow_storage(const_cast<void*>(array.data()), span, Device{}, [owner](void*) {
    py::gil_scoped_acquire gil;
    delete owner;
  });
  auto t = std::make_shared<TensorImpl>();
  t->storage = storage;
  t->shape = shape;
  t->strides = strides;
  t->dtype = dt;
  t->version = std::make_shared<std::atomic<uint32_t>>(0);
  return t;
}

py::object to_numpy(const Tensor& t) {
  EMBER_CHECK(t->device().is_cpu(), TypeError, "can't convert ", t->device().str(),
              " device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first.");
  EMBER_CHECK(!t->requires_grad(), Error,
              "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.");
  py::dtype dt(numpy_name(t->dtype));
  std::vector<py::ssize_t> shape(t->shape.begin(), t->shape.end()), strides;
  for (int64_t s : t->strides) strides.push_back(static_cast<py::ssize_t>(s * static_cast<int64_t>(itemsize(t->dtype))));
  // The capsule owns a reference to the storage: numpy's view keeps it alive.
  auto* keep = new std::shared_ptr<Storage>(t->storage);
  py::capsule base(keep, [](void* p) { delete static_cast<std::shared_ptr<Storage>*>(p); });
  return py::array(dt, shape, strides, t->data_bytes(), base);
}

}  // namespace ember::bind
