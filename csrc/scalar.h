// A Python number crossing into the core: keeps whether it was a bool, an
// int or a float, because type promotion depends on it.
#pragma once
#include <cstdint>

#include "dtype.h"

namespace ember {

struct Scalar {
  enum class Kind : unsigned char { Bool, Int, Float } kind = Kind::Float;
  double f = 0.0;
  int64_t i = 0;

  Scalar() = default;
  Scalar(double v) : kind(Kind::Float), f(v), i(static_cast<int64_t>(v)) {}
  Scalar(float v) : Scalar(static_cast<double>(v)) {}
  Scalar(int64_t v) : kind(Kind::Int), f(static_cast<double>(v)), i(v) {}
  Scalar(int v) : Scalar(static_cast<int64_t>(v)) {}
  static Scalar boolean(bool b) {
    Scalar s(static_cast<int64_t>(b));
    s.kind = Kind::Bool;
    return s;
  }
  bool is_floating() const { return kind == Kind::Float; }
  double to_double() const { return kind == Kind::Float ? f : static_cast<double>(i); }
  int64_t to_int() const { return kind == Kind::Float ? static_cast<int64_t>(f) : i; }
  // The dtype PyTorch gives a lone Python number of this kind.
  DType natural_dtype() const {
    return kind == Kind::Bool ? DType::Bool : kind == Kind::Int ? DType::Int64 : DType::Float32;
  }
};

}  // namespace ember
