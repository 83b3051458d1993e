// The safetensors container: an 8-byte little-endian header length N, N bytes
// of JSON describing each tensor (dtype, shape, data_offsets) plus an optional
// "__metadata__" string->string map, then the raw little-endian tensor bytes.
//
// parse_header() validates a header completely (sizes, JSON, dtypes, shape
// arithmetic, offsets, overlaps, holes, trailing bytes) before the caller
// allocates anything, so a hostile file costs at most its header's size.
// write_file() replaces a file atomically and durably (atomic_file.h).
//
// Byte order: ember writes and reads tensor bytes as they lie in memory, which
// matches safetensors only on a little-endian machine; the static_assert in
// safetensors.cpp keeps a big-endian build from silently writing wrong files.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../dtype.h"
#include "../tensor.h"
#include "atomic_file.h"

namespace ember::io {

// safetensors refuses headers above 100 MB; so does ember.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// Nesting allowed inside a header (entries and __metadata__ need 3 levels).
constexpr int kMaxHeaderDepth = 16;

// "F32", "BF16", "BOOL", ...
const char* safetensors_dtype_name(DType t);
// False for names ember does not know (F8_*, U16, U32, U64, C64, ...).
bool dtype_from_safetensors_name(const std::string& name, DType* out);

using Metadata = std::vector<std::pair<std::string, std::string>>;

struct TensorEntry {
  std::string name;
  DType dtype = DType::Float32;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte range relative to data_start
  uint64_t nbytes() const { return end - begin; }
};

struct ParsedHeader {
  std::vector<TensorEntry> tensors;  // in header order
  bool has_metadata = false;
  Metadata metadata;       // "__metadata__", in header order
  uint64_t data_start = 0;  // 8 + header length: file offset of the first data byte
  uint64_t data_size = 0;   // bytes after the header (== the sum of all entries)

  const std::string* find_metadata(const std::string& key) const;
  const TensorEntry* find_tensor(const std::string& name) const;
};

// Validates the 8-byte length prefix against the file size and the header
// cap; returns the header length N. `first8` must hold 8 bytes when
// file_size >= 8 (it is not read otherwise).
uint64_t read_header_length(const uint8_t* first8, uint64_t file_size);

// Parses and validates the header of a file of `file_size` bytes. `bytes`
// must hold at least the first min(file_size, 8 + N) bytes (the whole file,
// or the prefix that read_header_length() sized).
ParsedHeader parse_header(const uint8_t* bytes, uint64_t file_size);

// One tensor to write: numel(shape) * itemsize(dtype) == `nbytes` bytes.
// `data` points at element 0; with `strides` empty the bytes are contiguous
// there, otherwise element i lies at the strides (in elements) given, and is
// gathered only when the entry is written (no copy made in advance).
struct EntryToWrite {
  std::string name;
  DType dtype = DType::Float32;
  Shape shape;
  const void* data = nullptr;
  uint64_t nbytes = 0;
  Shape strides;
  bool contiguous() const { return strides.empty(); }
};

// Copies an entry's bytes, in row-major order, to `dst` (nbytes of room).
void copy_entry_bytes(const EntryToWrite& e, char* dst);

// The bytes before the tensor data (length prefix, JSON, space padding to an
// 8-byte boundary) and the order in which the entries' bytes follow. Header
// keys keep the caller's order; data is laid out by decreasing item size so
// every tensor is aligned to its item size in the file (mmap-friendly)
// without padding, which safetensors would reject as a hole.
struct FileLayout {
  std::string prefix;
  std::vector<size_t> data_order;
  uint64_t total_size = 0;
};
FileLayout plan_layout(const std::vector<EntryToWrite>& entries, const Metadata& metadata);

// Atomically replaces `path` with a safetensors file. Stale temporary files
// that a killed writer left for this same target are removed first.
void write_file(const std::string& path, const std::vector<EntryToWrite>& entries, const Metadata& metadata);
// The same file as one string (for file objects such as io.BytesIO).
std::string encode_to_bytes(const std::vector<EntryToWrite>& entries, const Metadata& metadata);


}  // namespace ember::io
