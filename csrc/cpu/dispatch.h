// Switches a runtime dtype to a C++ type once per kernel call.
#pragma once
#include <cstdint>

#include "../dtype.h"
#include "../error.h"

namespace ember::cpu {

// Calls fn(T{}) with T the storage type of `dtype` (bool, integers, float,
// double). 16-bit floats are handled by the op layer (computed in float32).
template <typename F>
decltype(auto) dispatch_dtype(DType dtype, const char* what, F&& fn) {
  switch (dtype) {
    case DType::Bool: return fn(bool{});
    case DType::UInt8: return fn(uint8_t{});
    case DType::Int8: return fn(int8_t{});
    case DType::Int16: return fn(int16_t{});
    case DType::Int32: return fn(int32_t{});
    case DType::Int64: return fn(int64_t{});
    case DType::Float32: return fn(float{});
    case DType::Float64: return fn(double{});
    default: break;
  }
  throw TypeError(str(what, " is not implemented for dtype ", dtype_name(dtype)));
}

template <typename F>
decltype(auto) dispatch_floating(DType dtype, const char* what, F&& fn) {
  switch (dtype) {
    case DType::Float32: return fn(float{});
    case DType::Float64: return fn(double{});
    default: break;
  }
  throw TypeError(str(what, " is not implemented for dtype ", dtype_name(dtype)));
}

}  // namespace ember::cpu
