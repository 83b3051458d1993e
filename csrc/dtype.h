// Runtime element types. A dtype is a value, never a template parameter of
// the tensor: kernels switch on it once (see dispatch_dtype in cpu/).
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

namespace ember {

enum class DType : uint8_t { Bool, UInt8, Int8, Int16, Int32, Int64, Float16, BFloat16, Float32, Float64 };
constexpr int kNumDTypes = 10;

size_t itemsize(DType t);
const char* dtype_name(DType t);  // "float32", used in reprs and errors
bool is_floating(DType t);
bool is_integral(DType t, bool include_bool);
// PyTorch's promotion lattice for two dtypes of the same "category".
DType promote_types(DType a, DType b);
// Parses "float32", "float", "int64", "long", ...; throws TypeError otherwise.
DType dtype_from_name(const std::string& name);

// 16-bit floats are storage types: arithmetic upcasts them to float32.
struct Half {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
inline float bf16_to_float(uint16_t b) {
  uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // keep NaN a NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
  return uint16_t(u >> 16);
}

}  // namespace ember
