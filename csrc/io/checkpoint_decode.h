// Decoding an ember checkpoint's structure description (checkpoint.h) from a
// parsed safetensors header: every storage, view and tree node is validated
// here, before anything is allocated or read. Pure: no memory beyond the
// description, no devices, no file access (which is what lets a fuzzer run
// it alone).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "checkpoint.h"
#include "safetensors.h"

namespace ember::io {

struct StorageDesc {
  const TensorEntry* entry = nullptr;  // {"entry"}: the bytes of this entry
  uint64_t nbytes = 0;                 // {"nbytes"} or the entry's size
  uint64_t scatter_bytes = 0;          // {"nbytes"}: bytes its tensors' entries hold
  std::string saved_device = "cpu";
  size_t max_item = 1;                 // widest dtype viewing it (mmap alignment)
};

struct TensorDesc {
  size_t storage = 0;
  DType dtype = DType::Float32;
  Shape shape, strides;
  int64_t offset = 0;
  const TensorEntry* entry = nullptr;  // {"entry"}: this view's elements, in order
};

// What each header entry is used for (every entry must be used).
enum class EntryRole : uint8_t { Unused, Plain, StorageBytes, ViewBytes };

struct DecodedCheckpoint {
  std::vector<StorageDesc> storages;
  std::vector<TensorDesc> tensors;
  std::vector<EntryRole> roles;  // one per header entry, in header order
  // The object tree; a tensor leaf holds its index in `integer`: i >= 0 is
  // tensors[i], -1 - e is header entry e loaded as a plain tensor.
  Object root;
};

// Throws CheckpointError naming the first thing that is wrong. Files without
// "ember.format_version" decode as a dict of their entries in header order.
// The result points into `h`, which must outlive it.
DecodedCheckpoint decode_checkpoint(const ParsedHeader& h);

// "cuda" -> cuda:0 and the like; CheckpointError("invalid <what> ...") when
// `s` names no device.
Device parse_saved_device(const std::string& s, const char* what);

}  // namespace ember::io
