// ember checkpoints: a tree of Python-like values (None, bool, int, float,
// str, list, tuple, dict, OrderedDict, tensor) stored in a safetensors file.
//
// Format (version 1), all inside a valid safetensors file:
//   __metadata__["format"]               = "pt" (what Hugging Face tools expect)
//   __metadata__["ember.format_version"] = "1"
//   __metadata__["ember.tree"]           = JSON of the object tree
//   __metadata__["ember.storages"]       = JSON array, only when needed
//   __metadata__["ember.tensors"]        = JSON array, only when needed
// Tree leaves: null, true/false, integers, strings as themselves;
//   {"float": "<repr>"} (keeps NaN and infinities), {"e": "<entry>"} (a plain
//   safetensors entry, loaded as one contiguous CPU tensor), {"t": i}
//   (ember.tensors[i]); containers {"list": [...]}, {"tuple": [...]},
//   {"dict": [[key, value], ...]}, {"odict": [[key, value], ...]} with str,
//   int or bool keys.
// ember.storages[k]: {"entry": name} (the storage's bytes are that entry's) or
//   {"nbytes": n} (rebuilt by scattering the entries of its tensors through
//   their strides), each with an optional "device" it was saved from.
// ember.tensors[i]: {"storage": k, "dtype": "F32", "shape": [...],
//   "strides": [...], "offset": n (elements), "entry": name (optional: that
//   entry holds this view's elements, in order)}.
//
// A flat dict of str -> tensor is written with one entry per key, so any
// safetensors reader sees the same names; tensors that share memory are then
// each written whole and the sharing is restored through a {"nbytes"}
// storage. Any other object writes each shared storage's used byte range
// once. Files without "ember.format_version" (written by other tools) load as
// a dict of their entries in header order.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../tensor.h"

namespace ember::io {

// Deepest nesting of containers that save() writes and load() accepts.
constexpr int kMaxStructureDepth = 100;

struct Object {
  enum class Kind : uint8_t { None, Bool, Int, Float, Str, List, Tuple, Dict, OrderedDict, Tensor };
  Kind kind = Kind::None;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::string string;
  Tensor tensor;
  std::vector<Object> items;  // List/Tuple elements; Dict/OrderedDict values
  std::vector<Object> keys;   // Dict/OrderedDict keys (Str, Int or Bool)
};

// Where loaded tensors go. With neither set, each storage returns to the
// device it was saved from.
struct LoadOptions {
  bool mmap = false;                        // load_file only
  std::optional<std::string> map_all;       // every tensor to this device
  std::vector<std::pair<std::string, std::string>> remap;  // saved device -> device
};

void save_file(const Object& obj, const std::string& path);
std::string save_bytes(const Object& obj);

Object load_file(const std::string& path, const LoadOptions& options);
Object load_bytes(const void* data, size_t size, const LoadOptions& options);

// For importers of other formats (PyTorch zip files): builds tensors that
// view raw little-endian storages, validating every view against its storage
// exactly as load() does, and moves each storage once (so sharing survives).
struct RawStorage {
  const void* data = nullptr;
  size_t nbytes = 0;
  std::string saved_device = "cpu";
};
struct RawView {
  size_t storage = 0;
  DType dtype = DType::Float32;
  Shape shape, strides;
  int64_t offset = 0;  // elements
};
std::vector<Tensor> tensors_from_raw(const std::vector<RawStorage>& storages, const std::vector<RawView>& views,
                                     const LoadOptions& options);

}  // namespace ember::io
