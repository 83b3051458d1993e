// safetensors header validation, layout and encoding.
#include "safetensors.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "../error.h"
#include "checkpoint_util.h"
#include "json.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "ember checkpoints store tensor bytes as they lie in memory; safetensors is little-endian");

namespace ember::io {

namespace {
struct DTypeName {
  DType dtype;
  const char* name;
};
constexpr DTypeName kDTypeNames[] = {
    {DType::Bool, "BOOL"}, {DType::UInt8, "U8"},     {DType::Int8, "I8"},      {DType::Int16, "I16"},
    {DType::Int32, "I32"}, {DType::Int64, "I64"},    {DType::Float16, "F16"},  {DType::BFloat16, "BF16"},
    {DType::Float32, "F32"}, {DType::Float64, "F64"},
};
}  // namespace

const char* safetensors_dtype_name(DType t) {
  for (const auto& d : kDTypeNames)
    if (d.dtype == t) return d.name;
  return "?";
}

bool dtype_from_safetensors_name(const std::string& name, DType* out) {
  for (const auto& d : kDTypeNames)
    if (name == d.name) {
      *out = d.dtype;
      return true;
    }
  return false;
}

const std::string* ParsedHeader::find_metadata(const std::string& key) const {
  for (const auto& kv : metadata)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

const TensorEntry* ParsedHeader::find_tensor(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

// ---------------------------------------------------------------- reading

uint64_t read_header_length(const uint8_t* first8, uint64_t file_size) {
  EMBER_CHECK(file_size >= 8, CheckpointError, "not a safetensors file: the file is ", file_size,
              " bytes long, shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | first8[i];
  EMBER_CHECK(n <= kMaxHeaderBytes, CheckpointError, "safetensors header length ", n, " is larger than the cap of ",
              kMaxHeaderBytes, " bytes (is this a safetensors file?)");
  EMBER_CHECK(n <= file_size - 8, CheckpointError, "safetensors header length ", n,
              " is larger than the file (", file_size, " bytes): the file is truncated or not a safetensors file");
  EMBER_CHECK(n >= 2, CheckpointError, "safetensors header length ", n, " is too small to hold a JSON object");
  return n;
}

namespace {

std::string dims_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

uint64_t json_to_u64(const JsonValue& v, const std::string& tensor, const char* field) {
  EMBER_CHECK(v.is_int(), CheckpointError, "tensor \"", tensor, "\": ", field, " must hold integers, got a ",
              json_type_name(v.type));
  EMBER_CHECK(v.integer >= 0, CheckpointError, "tensor \"", tensor, "\": negative ", field, " value ", v.integer);
  return static_cast<uint64_t>(v.integer);
}

TensorEntry parse_entry(const std::string& name, const JsonValue& v) {
  EMBER_CHECK(v.is_object(), CheckpointError, "tensor \"", name, "\": expected an object, got a ",
              json_type_name(v.type));
  TensorEntry e;
  e.name = name;
  const JsonValue *dtype = nullptr, *shape = nullptr, *offsets = nullptr;
  for (const auto& kv : v.object) {
    if (kv.first == "dtype") dtype = &kv.second;
    else if (kv.first == "shape") shape = &kv.second;
    else if (kv.first == "data_offsets") offsets = &kv.second;
    else throw CheckpointError(str("tensor \"", name, "\": unexpected key \"", kv.first, "\""));
  }
  EMBER_CHECK(dtype && shape && offsets, CheckpointError, "tensor \"", name, "\": missing ",
              !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
  EMBER_CHECK(dtype->is_string(), CheckpointError, "tensor \"", name, "\": dtype must be a string");
  EMBER_CHECK(dtype_from_safetensors_name(dtype->string, &e.dtype), CheckpointError, "tensor \"", name,
              "\": unknown dtype \"", dtype->string, "\" (ember reads BOOL, U8, I8, I16, I32, I64, F16, BF16, F32, F64)");
  EMBER_CHECK(shape->is_array(), CheckpointError, "tensor \"", name, "\": shape must be an array");
  EMBER_CHECK(shape->array.size() <= 64, CheckpointError, "tensor \"", name, "\": shape has ", shape->array.size(),
              " dimensions, more than 64");
  // numel * itemsize must fit: products are checked before they are formed.
  uint64_t nbytes = itemsize(e.dtype);
  bool overflow = false;
  for (const JsonValue& d : shape->array) {
    uint64_t s = json_to_u64(d, name, "shape");
    EMBER_CHECK(s <= uint64_t(INT64_MAX), CheckpointError, "tensor \"", name, "\": shape value too large");
    e.shape.push_back(static_cast<int64_t>(s));
    if (s != 0 && nbytes > (uint64_t(INT64_MAX) / s)) overflow = true;
    else nbytes *= s;
  }
  // A zero anywhere makes the product 0 even if a partial product overflowed.
  bool any_zero = std::find(e.shape.begin(), e.shape.end(), 0) != e.shape.end();
  if (any_zero) nbytes = 0;
  EMBER_CHECK(any_zero || !overflow, CheckpointError, "tensor \"", name, "\": shape ", dims_str(e.shape),
              " overflows (element count times item size does not fit in 63 bits)");
  EMBER_CHECK(offsets->is_array() && offsets->array.size() == 2, CheckpointError, "tensor \"", name,
              "\": data_offsets must be an array of two integers");
  e.begin = json_to_u64(offsets->array[0], name, "data_offsets");
  e.end = json_to_u64(offsets->array[1], name, "data_offsets");
  EMBER_CHECK(e.begin <= e.end, CheckpointError, "tensor \"", name, "\": data_offsets [", e.begin, ", ", e.end,
              "] end before they begin");
  EMBER_CHECK(e.end - e.begin == nbytes, CheckpointError, "tensor \"", name, "\": data_offsets [", e.begin, ", ",
              e.end, "] span ", e.end - e.begin, " bytes but dtype ", dtype->string, " and shape ",
              dims_str(e.shape), " need ", nbytes, " bytes");
  return e;
}

}  // namespace

ParsedHeader parse_header(const uint8_t* bytes, uint64_t file_size) {
  uint64_t n = read_header_length(bytes, file_size);
  std::string_view text(reinterpret_cast<const char*>(bytes + 8), n);
  EMBER_CHECK(is_valid_utf8(text), CheckpointError, "safetensors header is not valid UTF-8");
  // Like the reference implementation: the header is a JSON object, possibly
  // padded with trailing spaces.
  EMBER_CHECK(text[0] == '{', CheckpointError, "safetensors header is not a JSON object (it must start with '{')");
  JsonValue root = parse_json(text, kMaxHeaderDepth, "safetensors header");
  EMBER_CHECK(root.is_object(), CheckpointError, "safetensors header is not a JSON object");

  ParsedHeader h;
  h.data_start = 8 + n;
  h.data_size = file_size - h.data_start;
  for (const auto& kv : root.object) {
    if (kv.first == "__metadata__") {
      EMBER_CHECK(kv.second.is_object(), CheckpointError, "safetensors __metadata__ must be an object, got a ",
                  json_type_name(kv.second.type));
      h.has_metadata = true;
      for (const auto& m : kv.second.object) {
        EMBER_CHECK(m.second.is_string(), CheckpointError, "safetensors __metadata__ value of \"", m.first,
                    "\" must be a string, got a ", json_type_name(m.second.type));
        h.metadata.emplace_back(m.first, m.second.string);
      }
      continue;
    }
    h.tensors.push_back(parse_entry(kv.first, kv.second));
  }

  // The entries must tile the data section exactly: sorted by offset, each
  // begins where the previous one ended, and the last one ends at the file's
  // end. This rules out overlaps (aliasing), holes and trailing bytes.
  std::vector<const TensorEntry*> sorted;
  sorted.reserve(h.tensors.size());
  for (const auto& t : h.tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](const TensorEntry* a, const TensorEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t cursor = 0;
  const TensorEntry* prev = nullptr;
  for (const TensorEntry* t : sorted) {
    EMBER_CHECK(t->end <= h.data_size, CheckpointError, "tensor \"", t->name, "\": data_offsets [", t->begin, ", ",
                t->end, "] are out of range: the data section holds ", h.data_size, " bytes");
    if (t->begin < cursor)
      throw CheckpointError(str("tensors \"", prev->name, "\" and \"", t->name, "\" have overlapping data_offsets"));
    if (t->begin > cursor)
      throw CheckpointError(str("hole in the data section: bytes ", cursor, " to ", t->begin,
                                " belong to no tensor (before \"", t->name, "\")"));
    cursor = t->end;
    prev = t;
  }
  EMBER_CHECK(cursor == h.data_size, CheckpointError, "trailing bytes: the tensors use ", cursor,
              " bytes of a data section of ", h.data_size, " bytes");
  return h;
}

// ---------------------------------------------------------------- writing

FileLayout plan_layout(const std::vector<EntryToWrite>& entries, const Metadata& metadata) {
  FileLayout layout;
  layout.data_order.resize(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) layout.data_order[i] = i;
  std::stable_sort(layout.data_order.begin(), layout.data_order.end(),
                   [&](size_t a, size_t b) { return itemsize(entries[a].dtype) > itemsize(entries[b].dtype); });
  std::vector<uint64_t> begin(entries.size());
  uint64_t cursor = 0;
  for (size_t i : layout.data_order) {
    begin[i] = cursor;
    cursor += entries[i].nbytes;
  }

  std::string json = "{";
  bool first = true;
  if (!metadata.empty()) {
    json += "\"__metadata__\":{";
    for (size_t i = 0; i < metadata.size(); ++i) {
      if (i) json += ',';
      append_json_string(json, metadata[i].first);
      json += ':';
      append_json_string(json, metadata[i].second);
    }
    json += '}';
    first = false;
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    const EntryToWrite& e = entries[i];
    EMBER_CHECK(e.name != "__metadata__", CheckpointError, "a tensor cannot be named \"__metadata__\"");
    int64_t numel = 1;
    for (int64_t s : e.shape) numel *= s;
    EMBER_CHECK(uint64_t(numel) * itemsize(e.dtype) == e.nbytes, Error, "internal error: entry \"", e.name,
                "\" has ", e.nbytes, " bytes for shape ", dims_str(e.shape));
    if (!first) json += ',';
    first = false;
    append_json_string(json, e.name);
    json += ":{\"dtype\":\"";
    json += safetensors_dtype_name(e.dtype);
    json += "\",\"shape\":[";
    for (size_t d = 0; d < e.shape.size(); ++d) {
      if (d) json += ',';
      json += std::to_string(e.shape[d]);
    }
    json += "],\"data_offsets\":[";
    json += std::to_string(begin[i]);
    json += ',';
    json += std::to_string(begin[i] + e.nbytes);
    json += "]}";
  }
  json += '}';
  // Pad with spaces so that the data starts on an 8-byte boundary.
  while ((8 + json.size()) % 8) json += ' ';
  EMBER_CHECK(json.size() <= kMaxHeaderBytes, CheckpointError, "checkpoint header would be ", json.size(),
              " bytes, larger than the safetensors cap of ", kMaxHeaderBytes);
  uint64_t n = json.size();
  layout.prefix.resize(8);
  for (int i = 0; i < 8; ++i) layout.prefix[i] = char((n >> (8 * i)) & 0xff);
  layout.prefix += json;
  layout.total_size = layout.prefix.size() + cursor;
  return layout;
}

void copy_entry_bytes(const EntryToWrite& e, char* dst) {
  if (e.nbytes == 0) return;
  if (e.contiguous()) {
    std::memcpy(dst, e.data, e.nbytes);
    return;
  }
  // Row-major strides of the destination, computed here so that the
  // safetensors layer needs nothing from the tensor library.
  Shape dst_strides(e.shape.size());
  int64_t step = 1;
  for (size_t d = e.shape.size(); d-- > 0;) {
    dst_strides[d] = step;
    step *= e.shape[d];
  }
  detail::strided_copy(dst, dst_strides, static_cast<const char*>(e.data), e.strides, e.shape, itemsize(e.dtype));
}

std::string encode_to_bytes(const std::vector<EntryToWrite>& entries, const Metadata& metadata) {
  FileLayout layout = plan_layout(entries, metadata);
  std::string out(layout.total_size, '\0');
  std::memcpy(out.data(), layout.prefix.data(), layout.prefix.size());
  uint64_t at = layout.prefix.size();
  for (size_t i : layout.data_order) {
    copy_entry_bytes(entries[i], out.data() + at);
    at += entries[i].nbytes;
  }
  return out;
}

void write_file(const std::string& path, const std::vector<EntryToWrite>& entries, const Metadata& metadata) {
  FileLayout layout = plan_layout(entries, metadata);
  AtomicFileWriter out(path, layout.total_size);
  out.write(layout.prefix.data(), layout.prefix.size());
  // Contiguous tensors are written straight from their memory. A strided
  // one is gathered just before it is written, one at a time, so the extra
  // memory is its size alone and the gathering overlaps the disk writing
  // back the windows before it.
  std::unique_ptr<char[]> staging;
  size_t staging_size = 0;
  for (size_t i : layout.data_order) {
    const EntryToWrite& e = entries[i];
    if (e.contiguous()) {
      out.write(e.data, e.nbytes);
      continue;
    }
    if (staging_size < e.nbytes) {
      staging.reset(new char[e.nbytes]);
      staging_size = e.nbytes;
    }
    copy_entry_bytes(e, staging.get());
    out.write(staging.get(), e.nbytes);
  }
  out.commit();
}

}  // namespace ember::io
