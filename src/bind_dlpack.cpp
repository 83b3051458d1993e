// DLPack, the zero-copy exchange of tensors with numpy, PyTorch, CuPy, JAX:
// ember tensors leave as "dltensor_versioned" (DLPack 1.x) or legacy
// "dltensor" capsules, and come in from either. Conversion only: a capsule
// is a view of a Storage, never a copy unless the caller asks for one or the
// producer's memory is read-only.
//
// Lifetimes. An exported capsule owns a heap Export that holds the tensor
// (so its storage) plus the shape and stride arrays the DLTensor points at;
// the consumer calls the deleter when done, or the capsule's destructor does
// when nobody consumed it. An imported tensor borrows the producer's memory
// through a Storage whose release calls the producer's deleter, so the
// producer stays alive exactly as long as some ember view of it does.
// Deleters need no GIL on ember's side (the core never touches Python);
// producers' deleters take it themselves, as the standard requires.
#include <cstring>

#include "convert.h"
#include "csrc/error.h"
#include "cuda/cuda_api.h"
#include "third_party/dlpack/dlpack.h"

namespace ember::bind {

namespace {

constexpr const char* kVersionedName = "dltensor_versioned";
constexpr const char* kVersionedUsed = "used_dltensor_versioned";
constexpr const char* kLegacyName = "dltensor";
constexpr const char* kLegacyUsed = "used_dltensor";

[[noreturn]] void buffer_error(const std::string& message) { throw py::buffer_error(message); }

DLDataType dl_dtype(DType t) {
  switch (t) {
    case DType::Bool: return {kDLBool, 8, 1};
    case DType::UInt8: return {kDLUInt, 8, 1};
    case DType::Int8: return {kDLInt, 8, 1};
    case DType::Int16: return {kDLInt, 16, 1};
    case DType::Int32: return {kDLInt, 32, 1};
    case DType::Int64: return {kDLInt, 64, 1};
    case DType::Float16: return {kDLFloat, 16, 1};
    case DType::BFloat16: return {kDLBfloat, 16, 1};
    case DType::Float32: return {kDLFloat, 32, 1};
    case DType::Float64: return {kDLFloat, 64, 1};
  }
  buffer_error("unknown ember dtype");
}

DType ember_dtype(DLDataType t) {
  if (t.lanes != 1) buffer_error(str("DLPack tensors with ", t.lanes, " lanes per element are not supported"));
  switch (t.code) {
    case kDLBool:
      if (t.bits == 8) return DType::Bool;
      break;
    case kDLUInt:
      if (t.bits == 8) return DType::UInt8;
      if (t.bits == 1) return DType::Bool;  // numpy < 1.25 exported bools as uint1
      break;
    case kDLInt:
      if (t.bits == 8) return DType::Int8;
      if (t.bits == 16) return DType::Int16;
      if (t.bits == 32) return DType::Int32;
      if (t.bits == 64) return DType::Int64;
      break;
    case kDLFloat:
      if (t.bits == 16) return DType::Float16;
      if (t.bits == 32) return DType::Float32;
      if (t.bits == 64) return DType::Float64;
      break;
    case kDLBfloat:
      if (t.bits == 16) return DType::BFloat16;
      break;
    default: break;
  }
  static const char* names[] = {"int", "uint", "float", "opaque handle", "bfloat", "complex", "bool"};
  const char* kind = t.code < sizeof(names) / sizeof(names[0]) ? names[t.code] : "unknown";
  buffer_error(str("ember does not support the DLPack dtype ", kind, t.bits,
                   " (supported: bool, uint8, int8/16/32/64, float16/32/64, bfloat16)"));
}

DLDevice dl_device(Device d) {
  if (d.is_cpu()) return {kDLCPU, 0};
  return {kDLCUDA, d.index};
}

Device ember_device(DLDevice d) {
  switch (d.device_type) {
    case kDLCPU:
    case kDLCUDAHost:  // pinned host memory: the CPU can read it
      return Device{};
    case kDLCUDA:
      if (!cuda_is_built()) buffer_error("a CUDA DLPack tensor was given, but ember was built without CUDA");
      return Device{DeviceType::CUDA, static_cast<int>(d.device_id)};
    default:
      buffer_error(str("ember cannot import DLPack tensors from device type ", int(d.device_type),
                       " (supported: CPU, CUDA, CUDA host)"));
  }
}

// ---- export ----

struct Export {
  Tensor tensor;  // keeps the storage alive
  std::vector<int64_t> shape, strides;
  DLManagedTensor legacy{};
  DLManagedTensorVersioned versioned{};
};

void fill_dltensor(DLTensor& dl, Export& ex) {
  const Tensor& t = ex.tensor;
  ex.shape = t->shape;
  ex.strides = t->strides;
  dl.data = t->numel() ? static_cast<void*>(t->data_bytes()) : t->storage->data;
  dl.device = dl_device(t->device());
  dl.ndim = static_cast<int32_t>(t->ndim());
  dl.dtype = dl_dtype(t->dtype);
  dl.shape = ex.shape.empty() ? nullptr : ex.shape.data();
  dl.strides = ex.strides.empty() ? nullptr : ex.strides.data();
  dl.byte_offset = 0;
}

void delete_legacy(DLManagedTensor* self) { delete static_cast<Export*>(self->manager_ctx); }
void delete_versioned(DLManagedTensorVersioned* self) { delete static_cast<Export*>(self->manager_ctx); }

// Capsule destructors: only a capsule nobody consumed still owns its tensor.
void legacy_capsule_destructor(PyObject* capsule) {
  if (PyCapsule_IsValid(capsule, kLegacyName)) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, kLegacyName));
    if (m && m->deleter) m->deleter(m);
  }
}
void versioned_capsule_destructor(PyObject* capsule) {
  if (PyCapsule_IsValid(capsule, kVersionedName)) {
    auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(capsule, kVersionedName));
    if (m && m->deleter) m->deleter(m);
  }
}

py::object to_capsule(const Tensor& t_in, bool versioned, bool copied) {
  auto ex = std::make_unique<Export>();
  ex->tensor = make_alias(t_in);  // no autograd history travels with the data
  PyObject* capsule = nullptr;
  if (versioned) {
    DLManagedTensorVersioned& m = ex->versioned;
    m.version = {DLPACK_MAJOR_VERSION, DLPACK_MINOR_VERSION};
    m.manager_ctx = ex.get();
    m.deleter = delete_versioned;
    m.flags = copied ? DLPACK_FLAG_BITMASK_IS_COPIED : 0;
    fill_dltensor(m.dl_tensor, *ex);
    capsule = PyCapsule_New(&m, kVersionedName, versioned_capsule_destructor);
  } else {
    DLManagedTensor& m = ex->legacy;
    m.manager_ctx = ex.get();
    m.deleter = delete_legacy;
    fill_dltensor(m.dl_tensor, *ex);
    capsule = PyCapsule_New(&m, kLegacyName, legacy_capsule_destructor);
  }
  if (!capsule) throw py::error_already_set();
  ex.release();  // the capsule owns it now
  return py::reinterpret_steal<py::object>(capsule);
}

// ---- import ----

struct Borrowed {
  Tensor view;                   // positive strides only
  std::vector<int64_t> flipped;  // dims whose DLPack stride was negative
};

// A tensor viewing dl's memory; `release` runs when the last view dies.
// Everything that can be refused is checked before the memory is borrowed.
// Negative strides (numpy's a[::-1]) have no ember form: with allow_copy the
// view mirrors them (finish() flips those dims back, into a copy), else
// BufferError.
Borrowed view_of(const DLTensor& dl, std::function<void(void*)> release, bool allow_copy) {
  const Device device = ember_device(dl.device);
  const DType dtype = ember_dtype(dl.dtype);
  if (dl.ndim < 0 || dl.ndim > 64) buffer_error(str("invalid DLPack tensor: ndim ", dl.ndim));
  if (dl.ndim > 0 && !dl.shape) buffer_error("invalid DLPack tensor: no shape");
  Shape shape(dl.shape, dl.shape + dl.ndim);
  Shape strides = dl.strides ? Shape(dl.strides, dl.strides + dl.ndim) : contiguous_strides(shape);
  int64_t numel = 1;
  for (int32_t d = 0; d < dl.ndim; ++d) {
    if (shape[d] < 0) buffer_error(str("invalid DLPack tensor: negative size in shape ", shape_str(shape)));
    numel *= shape[d];
  }
  const int64_t item = static_cast<int64_t>(itemsize(dtype));
  char* data = static_cast<char*>(dl.data) + dl.byte_offset;
  std::vector<int64_t> flipped;
  int64_t extent = 1;
  for (int32_t d = 0; d < dl.ndim; ++d) {
    if (strides[d] < 0) {
      if (shape[d] > 1) {
        if (!allow_copy)
          buffer_error(str("the DLPack tensor has negative strides ", shape_str(strides),
                           ", which ember tensors cannot view: a copy is needed, but copy=False"));
        data += (shape[d] - 1) * strides[d] * item;  // the lowest address along d
        flipped.push_back(d);
      }
      strides[d] = -strides[d];
    }
    if (shape[d] > 0) extent += (shape[d] - 1) * strides[d];
  }
  if (numel && reinterpret_cast<uintptr_t>(data) % static_cast<uintptr_t>(item) != 0)
    buffer_error(str("DLPack data at address ", static_cast<void*>(data), " is not aligned to its ", item,
                     "-byte elements"));
  const size_t nbytes = numel ? static_cast<size_t>(extent * item) : 0;
  Tensor t = std::make_shared<TensorImpl>();
  t->storage = borrow_storage(numel ? data : dl.data, nbytes, device, std::move(release));
  t->shape = shape;
  t->strides = strides;
  t->offset = 0;
  t->dtype = dtype;
  t->version = std::make_shared<std::atomic<uint32_t>>(0);
  return {t, flipped};
}

// After the capsule is marked consumed (the storage owns the producer's
// deleter from then on, so an error here cannot release it twice).
Tensor finish(const Borrowed& b, bool read_only) {
  Tensor t = b.view;
  for (int64_t d : b.flipped) {
    const double n = static_cast<double>(t->shape[static_cast<size_t>(d)]);
    t = index_select(t, d, arange(n - 1, -1, -1, DType::Int64, t->device()));
  }
  // ember has no read-only tensors: a read-only producer gets a private copy.
  return read_only && b.flipped.empty() ? clone(t) : t;
}

Tensor from_capsule(py::handle capsule, bool allow_copy) {
  PyObject* p = capsule.ptr();
  if (!PyCapsule_CheckExact(p))
    throw TypeError(str("from_dlpack: expected an object with __dlpack__ or a DLPack capsule, got ",
                        Py_TYPE(capsule.ptr())->tp_name));
  const char* name = PyCapsule_GetName(p);
  if (!name) throw py::error_already_set();
  if (!std::strcmp(name, kVersionedUsed) || !std::strcmp(name, kLegacyUsed))
    throw Error("from_dlpack received a DLPack capsule that was already consumed: a capsule can be used only once");
  if (!std::strcmp(name, kVersionedName)) {
    auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(p, kVersionedName));
    if (!m) throw py::error_already_set();
    if (m->version.major > DLPACK_MAJOR_VERSION)
      buffer_error(str("the DLPack capsule has version ", m->version.major, ".", m->version.minor,
                       "; ember understands major version ", DLPACK_MAJOR_VERSION));
    const bool read_only = m->flags & DLPACK_FLAG_BITMASK_READ_ONLY;
    if (read_only && !allow_copy)
      buffer_error("the DLPack tensor is read-only and ember tensors are always writable: a copy is needed, but "
                   "copy=False");
    Borrowed b = view_of(m->dl_tensor, [m](void*) { if (m->deleter) m->deleter(m); }, allow_copy);
    PyCapsule_SetName(p, kVersionedUsed);
    return finish(b, read_only);
  }
  if (!std::strcmp(name, kLegacyName)) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(p, kLegacyName));
    if (!m) throw py::error_already_set();
    Borrowed b = view_of(m->dl_tensor, [m](void*) { if (m->deleter) m->deleter(m); }, allow_copy);
    PyCapsule_SetName(p, kLegacyUsed);
    return finish(b, false);
  }
  throw TypeError(str("from_dlpack: a capsule named '", name, "' is not a DLPack tensor (expected '", kVersionedName,
                      "' or '", kLegacyName, "')"));
}

}  // namespace

void bind_dlpack(py::module_& m) {
  m.def("_to_dlpack", [](const Tensor& t, bool versioned, bool copied) { return to_capsule(t, versioned, copied); },
        py::arg("tensor"), py::arg("versioned"), py::arg("copied") = false);
  // allow_copy: the caller's copy is not False, so read-only memory and
  // negative strides may be copied instead of refused.
  m.def("_from_dlpack", [](py::handle capsule, bool allow_copy) { return from_capsule(capsule, allow_copy); },
        py::arg("capsule"), py::arg("allow_copy") = true);
  m.def("_dlpack_device", [](const Tensor& t) {
    DLDevice d = dl_device(t->device());
    return py::make_tuple(int(d.device_type), int(d.device_id));
  });
  m.def("_dlpack_version", []() { return py::make_tuple(DLPACK_MAJOR_VERSION, DLPACK_MINOR_VERSION); });
  // Stream ordering for CUDA consumers (the standard's `stream` argument).
  m.def("_cuda_order_stream_after_ember", [](int device, uintptr_t stream) {
    cuda_order_stream_after_ember(device, stream);
  });
}

}  // namespace ember::bind
