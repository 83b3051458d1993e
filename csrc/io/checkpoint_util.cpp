// Strided byte copies and view validation for checkpoints.
#include "checkpoint_util.h"

#include <cstring>
#include <vector>

#include "../error.h"

namespace ember::io::detail {

void strided_copy(char* dst, const Shape& dst_strides, const char* src, const Shape& src_strides, const Shape& shape,
                  size_t item) {
  const size_t nd = shape.size();
  for (int64_t s : shape)
    if (s == 0) return;
  if (nd == 0) {
    std::memcpy(dst, src, item);
    return;
  }
  const int64_t inner = shape[nd - 1];
  const int64_t dsi = dst_strides[nd - 1] * int64_t(item), ssi = src_strides[nd - 1] * int64_t(item);
  const bool inner_dense = dsi == int64_t(item) && ssi == int64_t(item);
  std::vector<int64_t> idx(nd, 0);
  int64_t doff = 0, soff = 0;  // byte offsets of the current row
  for (;;) {
    if (inner_dense) {
      std::memcpy(dst + doff, src + soff, size_t(inner) * item);
    } else {
      char* d = dst + doff;
      const char* s = src + soff;
      for (int64_t i = 0; i < inner; ++i, d += dsi, s += ssi) std::memcpy(d, s, item);
    }
    int64_t k = int64_t(nd) - 2;
    for (; k >= 0; --k) {
      doff += dst_strides[k] * int64_t(item);
      soff += src_strides[k] * int64_t(item);
      if (++idx[k] < shape[k]) break;
      doff -= shape[k] * dst_strides[k] * int64_t(item);
      soff -= shape[k] * src_strides[k] * int64_t(item);
      idx[k] = 0;
    }
    if (k < 0) return;
  }
}

void check_view(const std::string& what, DType dtype, const Shape& shape, const Shape& strides, int64_t offset,
                uint64_t storage_nbytes) {
  EMBER_CHECK(shape.size() <= 64, CheckpointError, what, ": ", shape.size(), " dimensions, more than 64");
  EMBER_CHECK(strides.size() == shape.size(), CheckpointError, what, ": ", strides.size(), " strides for ",
              shape.size(), " dimensions");
  EMBER_CHECK(offset >= 0, CheckpointError, what, ": negative storage offset ", offset);
  const uint64_t item = itemsize(dtype);
  // Everything in 128 bits so that no product or sum can wrap.
  unsigned __int128 numel = 1, last = static_cast<uint64_t>(offset);
  for (size_t d = 0; d < shape.size(); ++d) {
    EMBER_CHECK(shape[d] >= 0, CheckpointError, what, ": negative size ", shape[d], " in the shape");
    EMBER_CHECK(strides[d] >= 0, CheckpointError, what, ": negative stride ", strides[d]);
    numel *= static_cast<uint64_t>(shape[d]);
    if (numel > kMaxTensorBytes) numel = kMaxTensorBytes + 1;  // saturate; reported below
    if (shape[d] > 0) last += static_cast<unsigned __int128>(shape[d] - 1) * static_cast<uint64_t>(strides[d]);
  }
  EMBER_CHECK(numel * item <= kMaxTensorBytes, CheckpointError, what, ": the shape holds too many elements");
  if (numel == 0) {
    EMBER_CHECK(static_cast<unsigned __int128>(offset) * item <= storage_nbytes, CheckpointError, what,
                ": storage offset ", offset, " lies outside its storage of ", storage_nbytes, " bytes");
    return;
  }
  EMBER_CHECK((last + 1) * item <= storage_nbytes, CheckpointError, what,
              ": the view (offset, shape and strides) reaches past the end of its storage of ", storage_nbytes,
              " bytes");
}

JsonValue json_int(int64_t v) {
  JsonValue j;
  j.type = JsonValue::Type::Int;
  j.integer = v;
  return j;
}

JsonValue json_str(std::string s) {
  JsonValue j;
  j.type = JsonValue::Type::String;
  j.string = std::move(s);
  return j;
}

JsonValue json_array() {
  JsonValue j;
  j.type = JsonValue::Type::Array;
  return j;
}

JsonValue json_object() {
  JsonValue j;
  j.type = JsonValue::Type::Object;
  return j;
}

JsonValue json_dims(const Shape& dims) {
  JsonValue j = json_array();
  for (int64_t d : dims) j.array.push_back(json_int(d));
  return j;
}

}  // namespace ember::io::detail
