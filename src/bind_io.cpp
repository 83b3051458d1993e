// Bindings for checkpoints (csrc/io): conversion between Python objects and
// ember::io::Object trees, nothing else. ember/serialization.py wraps these.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "tensor_caster.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "csrc/error.h"
#include "csrc/io/checkpoint.h"
#include "csrc/io/safetensors.h"
#include "csrc/io/snapshot.h"
#include "csrc/tensor.h"

namespace py = pybind11;
using ember::io::Object;

namespace {

struct Converter {
  py::object ordered_dict = py::module_::import("collections").attr("OrderedDict");

  Object to_object(py::handle h, int depth) {
    if (depth > ember::io::kMaxStructureDepth)
      throw ember::ValueError(ember::str("ember.save: the object nests containers deeper than ",
                                         ember::io::kMaxStructureDepth, " levels (or contains itself)"));
    Object o;
    PyObject* p = h.ptr();
    if (h.is_none()) return o;
    if (PyBool_Check(p)) {
      o.kind = Object::Kind::Bool;
      o.boolean = p == Py_True;
      return o;
    }
    if (py::isinstance<ember::TensorImpl>(h)) {
      o.kind = Object::Kind::Tensor;
      o.tensor = h.cast<ember::Tensor>();
      return o;
    }
    if (PyLong_Check(p) || (!PyFloat_Check(p) && PyIndex_Check(p))) {
      py::int_ i = py::reinterpret_steal<py::int_>(PyNumber_Index(p));
      if (!i) throw py::error_already_set();
      int overflow = 0;
      long long v = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
      if (overflow) throw ember::ValueError("ember.save: an integer does not fit in 64 bits");
      if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
      o.kind = Object::Kind::Int;
      o.integer = v;
      return o;
    }
    if (PyFloat_Check(p)) {
      o.kind = Object::Kind::Float;
      o.number = PyFloat_AsDouble(p);
      return o;
    }
    if (PyUnicode_Check(p)) {
      o.kind = Object::Kind::Str;
      o.string = h.cast<std::string>();
      return o;
    }
    if (PyDict_Check(p)) {
      o.kind = py::isinstance(h, ordered_dict) ? Object::Kind::OrderedDict : Object::Kind::Dict;
      for (auto kv : py::reinterpret_borrow<py::dict>(h)) {
        PyObject* k = kv.first.ptr();
        if (!(PyUnicode_Check(k) || PyLong_Check(k)))
          throw ember::TypeError(ember::str("ember.save: dict keys must be str, int or bool, got ",
                                            py::str(py::type::handle_of(kv.first).attr("__name__")).cast<std::string>()));
        o.keys.push_back(to_object(kv.first, depth + 1));
        o.items.push_back(to_object(kv.second, depth + 1));
      }
      return o;
    }
    if (PyList_Check(p) || PyTuple_Check(p)) {
      o.kind = PyList_Check(p) ? Object::Kind::List : Object::Kind::Tuple;
      for (auto item : py::reinterpret_borrow<py::sequence>(h)) o.items.push_back(to_object(item, depth + 1));
      return o;
    }
    std::string type_name = py::str(py::type::handle_of(h).attr("__name__")).cast<std::string>();
    std::string hint = py::hasattr(h, "state_dict") ? "; save its state_dict() instead" : "";
    throw ember::TypeError(ember::str("ember.save cannot save an object of type '", type_name,
                                      "': it saves tensors, lists, tuples, dicts, None, bool, int, float and str",
                                      hint));
  }

  py::object to_python(const Object& o) {
    switch (o.kind) {
      case Object::Kind::None: return py::none();
      case Object::Kind::Bool: return py::bool_(o.boolean);
      case Object::Kind::Int: return py::int_(o.integer);
      case Object::Kind::Float: return py::float_(o.number);
      case Object::Kind::Str: return py::str(o.string);
      case Object::Kind::Tensor: return py::cast(o.tensor);
      case Object::Kind::List: {
        py::list l(o.items.size());
        for (size_t i = 0; i < o.items.size(); ++i) l[i] = to_python(o.items[i]);
        return std::move(l);
      }
      case Object::Kind::Tuple: {
        py::tuple t(o.items.size());
        for (size_t i = 0; i < o.items.size(); ++i) t[i] = to_python(o.items[i]);
        return std::move(t);
      }
      case Object::Kind::Dict:
      case Object::Kind::OrderedDict: {
        py::object d = o.kind == Object::Kind::Dict ? py::dict() : ordered_dict();
        for (size_t i = 0; i < o.items.size(); ++i) d[to_python(o.keys[i])] = to_python(o.items[i]);
        return d;
      }
    }
    return py::none();
  }
};

ember::io::LoadOptions load_options(bool mmap, std::optional<std::string> map_all,
                                    std::vector<std::pair<std::string, std::string>> remap) {
  ember::io::LoadOptions opt;
  opt.mmap = mmap;
  opt.map_all = std::move(map_all);
  opt.remap = std::move(remap);
  return opt;
}

using Remap = std::vector<std::pair<std::string, std::string>>;

}  // namespace

void bind_io(py::module_& m) {
  m.def(
      "_io_save_file",
      [](py::handle obj, const std::string& path) {
        Object o = Converter().to_object(obj, 0);
        py::gil_scoped_release release;
        ember::io::save_file(o, path);
      },
      py::arg("obj"), py::arg("path"), "Writes obj to path atomically as an ember checkpoint (safetensors).");
  // Background saves: the snapshot is taken while the caller waits (the
  // copy runs without the GIL once the Python objects are converted); the
  // write runs later on the saving thread, also without the GIL.
  py::class_<ember::io::CheckpointSnapshot, std::shared_ptr<ember::io::CheckpointSnapshot>>(
      m, "_CheckpointSnapshot", "A checkpoint's header and a copy of its tensors' bytes, ready to be written.")
      .def_property_readonly("file_size", &ember::io::CheckpointSnapshot::file_size);
  m.def(
      "_io_snapshot",
      [](py::handle obj) {
        Object o = Converter().to_object(obj, 0);
        py::gil_scoped_release release;
        return std::make_shared<ember::io::CheckpointSnapshot>(ember::io::snapshot(o));
      },
      py::arg("obj"), "Copies obj's tensors into a snapshot that _io_write_snapshot writes.");
  m.def(
      "_io_write_snapshot",
      [](const ember::io::CheckpointSnapshot& snap, const std::string& path) {
        py::gil_scoped_release release;
        snap.write_file(path);
      },
      py::arg("snapshot"), py::arg("path"), "Writes a snapshot to path atomically and durably.");
  m.def(
      "_io_save_bytes",
      [](py::handle obj) {
        Object o = Converter().to_object(obj, 0);
        std::string bytes;
        {
          py::gil_scoped_release release;
          bytes = ember::io::save_bytes(o);
        }
        return py::bytes(bytes);
      },
      py::arg("obj"), "Encodes obj as an ember checkpoint (safetensors bytes).");
  m.def(
      "_io_load_file",
      [](const std::string& path, bool mmap, std::optional<std::string> map_all, Remap remap) {
        auto opt = load_options(mmap, std::move(map_all), std::move(remap));
        Object o;
        {
          py::gil_scoped_release release;
          o = ember::io::load_file(path, opt);
        }
        return Converter().to_python(o);
      },
      py::arg("path"), py::arg("mmap") = false, py::arg("map_all") = py::none(), py::arg("remap") = Remap{});
  m.def(
      "_io_load_bytes",
      [](py::buffer data, std::optional<std::string> map_all, Remap remap) {
        py::buffer_info info = data.request();
        if (info.ndim != 1 || info.itemsize != 1 || info.strides[0] != 1)
          throw ember::TypeError("ember.load: expected a contiguous bytes-like object");
        auto opt = load_options(false, std::move(map_all), std::move(remap));
        Object o;
        {
          py::gil_scoped_release release;
          o = ember::io::load_bytes(info.ptr, size_t(info.size), opt);
        }
        return Converter().to_python(o);
      },
      py::arg("data"), py::arg("map_all") = py::none(), py::arg("remap") = Remap{});
  // storages: [(bytes-like, saved_device)], views: [(storage, dtype, shape, strides, offset)]
  // with safetensors dtype names ("F32"); used by the PyTorch importer.
  m.def(
      "_io_tensors_from_raw",
      [](py::list storages, std::vector<std::tuple<size_t, std::string, ember::Shape, ember::Shape, int64_t>> views,
         std::optional<std::string> map_all, Remap remap) {
        std::vector<py::buffer_info> infos;
        std::vector<ember::io::RawStorage> raw;
        for (py::handle s : storages) {
          auto pair = s.cast<py::tuple>();
          if (pair.size() != 2) throw ember::TypeError("_io_tensors_from_raw: storages are (data, device) pairs");
          infos.push_back(pair[0].cast<py::buffer>().request());
          const py::buffer_info& info = infos.back();
          if (info.ndim != 1 || info.itemsize != 1 || info.strides[0] != 1)
            throw ember::TypeError("_io_tensors_from_raw: storage data must be contiguous bytes");
          ember::io::RawStorage r;
          r.data = info.ptr;
          r.nbytes = size_t(info.size);
          r.saved_device = pair[1].cast<std::string>();
          raw.push_back(std::move(r));
        }
        std::vector<ember::io::RawView> rv;
        for (auto& v : views) {
          ember::io::RawView r;
          r.storage = std::get<0>(v);
          if (!ember::io::dtype_from_safetensors_name(std::get<1>(v), &r.dtype))
            throw ember::CheckpointError("unsupported tensor dtype " + std::get<1>(v));
          r.shape = std::get<2>(v);
          r.strides = std::get<3>(v);
          r.offset = std::get<4>(v);
          rv.push_back(std::move(r));
        }
        auto opt = load_options(false, std::move(map_all), std::move(remap));
        std::vector<ember::Tensor> out;
        {
          py::gil_scoped_release release;
          out = ember::io::tensors_from_raw(raw, rv, opt);
        }
        return out;
      },
      py::arg("storages"), py::arg("views"), py::arg("map_all") = py::none(), py::arg("remap") = Remap{});
}
