// Helpers shared by the checkpoint writer and reader (not a public header).
#pragma once
#include <cstdint>
#include <string>

#include "../tensor.h"
#include "json.h"

namespace ember::io::detail {

constexpr const char* kFormatVersionKey = "ember.format_version";
constexpr const char* kFormatVersion = "1";
constexpr const char* kTreeKey = "ember.tree";
constexpr const char* kStoragesKey = "ember.storages";
constexpr const char* kTensorsKey = "ember.tensors";
// No tensor bigger than this is built from a file (matches make_empty's cap).
constexpr uint64_t kMaxTensorBytes = uint64_t(1) << 46;

// Copies the elements of a `shape` view from `src` (strides in elements) to
// `dst` (strides in elements); both point at element 0. Plain bytes: any dtype.
void strided_copy(char* dst, const Shape& dst_strides, const char* src, const Shape& src_strides, const Shape& shape,
                  size_t item);

// Checks that a view (dtype, shape, strides, offset in elements) lies inside a
// storage of `storage_nbytes` bytes, with non-negative strides and no
// overflow; throws CheckpointError naming `what` otherwise.
void check_view(const std::string& what, DType dtype, const Shape& shape, const Shape& strides, int64_t offset,
                uint64_t storage_nbytes);

// Small JSON builders.
JsonValue json_int(int64_t v);
JsonValue json_str(std::string s);
JsonValue json_array();
JsonValue json_object();
JsonValue json_dims(const Shape& dims);
inline void json_set(JsonValue& obj, std::string key, JsonValue v) { obj.object.emplace_back(std::move(key), std::move(v)); }

}  // namespace ember::io::detail
