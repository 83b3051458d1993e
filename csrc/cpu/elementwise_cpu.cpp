// Elementwise CPU kernels: unary math, binary arithmetic and comparisons,
// clamp and where. Contiguous and scalar-broadcast runs get flat loops the
// compiler vectorizes; everything else walks byte strides.
#include <cmath>
#include <type_traits>

#include "../error.h"
#include "dispatch.h"
#include "kernels.h"
#include "loops.h"
#include "streaming.h"

namespace ember::cpu {

namespace {

template <typename T>
constexpr bool is_fp = std::is_floating_point_v<T>;

// ---------------- binary ----------------

// Ops that cost a few cycles per element stream memory: threads only pay
// for large tensors. Transcendental ones (pow, exp, sin, ...) pay earlier.
bool memory_bound(BinaryOp op) {
  return !(op == BinaryOp::Pow || op == BinaryOp::Atan2 || op == BinaryOp::Remainder || op == BinaryOp::FloorDiv);
}
bool memory_bound(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg:
    case UnaryOp::Abs:
    case UnaryOp::Relu:
    case UnaryOp::Sign:
    case UnaryOp::Square:
    case UnaryOp::LogicalNot:
    case UnaryOp::BitwiseNot: return true;
    default: return false;
  }
}

template <typename Out, typename T, typename F>
void binary_loop(const Tensor& out, const Tensor& a, const Tensor& b, int64_t grain, F f) {
  const bool stream = use_streaming_stores(out->numel() * int64_t(sizeof(Out)));
  for_each_run<3>({out.get(), a.get(), b.get()}, [&f, stream](std::array<char*, 3> p, std::array<int64_t, 3> s,
                                                              int64_t n) {
    // No __restrict: in-place ops pass out == a (the compiler checks overlap
    // once per run and still vectorizes).
    Out* o = reinterpret_cast<Out*>(p[0]);
    const T* x = reinterpret_cast<const T*>(p[1]);
    const T* y = reinterpret_cast<const T*>(p[2]);
    if (s[0] == sizeof(Out) && s[1] == sizeof(T) && s[2] == sizeof(T)) {
      if (stream) return stream_run(o, n, [&](int64_t i) { return f(x[i], y[i]); });
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
    } else if (s[0] == sizeof(Out) && s[1] == sizeof(T) && s[2] == 0) {
      const T yv = *y;
      if (stream) return stream_run(o, n, [&](int64_t i) { return f(x[i], yv); });
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
    } else if (s[0] == sizeof(Out) && s[1] == 0 && s[2] == sizeof(T)) {
      const T xv = *x;
      if (stream) return stream_run(o, n, [&](int64_t i) { return f(xv, y[i]); });
      for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
    } else {
      char* po = p[0];
      const char* px = p[1];
      const char* py = p[2];
      for (int64_t i = 0; i < n; ++i, po += s[0], px += s[1], py += s[2])
        *reinterpret_cast<Out*>(po) = f(*reinterpret_cast<const T*>(px), *reinterpret_cast<const T*>(py));
    }
  }, grain);
}

template <typename T>
T int_pow(T base, T exp) {
  T result = 1;
  while (exp > 0) {
    if (exp & 1) result *= base;
    base *= base;
    exp >>= 1;
  }
  return result;
}

template <typename T>
void binary_typed(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  const int64_t grain = memory_bound(op) ? kMemoryBoundGrain : kParallelGrain;
  auto cmp = [&](auto f) { binary_loop<bool, T>(out, a, b, grain, f); };
  auto same = [&](auto f) { binary_loop<T, T>(out, a, b, grain, f); };
  switch (op) {
    case BinaryOp::Eq: return cmp([](T x, T y) { return x == y; });
    case BinaryOp::Ne: return cmp([](T x, T y) { return x != y; });
    case BinaryOp::Lt: return cmp([](T x, T y) { return x < y; });
    case BinaryOp::Le: return cmp([](T x, T y) { return x <= y; });
    case BinaryOp::Gt: return cmp([](T x, T y) { return x > y; });
    case BinaryOp::Ge: return cmp([](T x, T y) { return x >= y; });
    case BinaryOp::LogicalAnd: return cmp([](T x, T y) { return x != T(0) && y != T(0); });
    case BinaryOp::LogicalOr: return cmp([](T x, T y) { return x != T(0) || y != T(0); });
    case BinaryOp::LogicalXor: return cmp([](T x, T y) { return (x != T(0)) != (y != T(0)); });
    default: break;
  }
  if constexpr (std::is_same_v<T, bool>) {
    switch (op) {
      case BinaryOp::Add:
      case BinaryOp::BitOr:
      case BinaryOp::Maximum: return same([](bool x, bool y) { return x || y; });
      case BinaryOp::Mul:
      case BinaryOp::BitAnd:
      case BinaryOp::Minimum: return same([](bool x, bool y) { return x && y; });
      case BinaryOp::BitXor: return same([](bool x, bool y) { return x != y; });
      default: break;
    }
  } else {
    switch (op) {
      case BinaryOp::Add: return same([](T x, T y) { return T(x + y); });
      case BinaryOp::Sub: return same([](T x, T y) { return T(x - y); });
      case BinaryOp::Mul: return same([](T x, T y) { return T(x * y); });
      case BinaryOp::Div: return same([](T x, T y) { return T(x / y); });
      case BinaryOp::Maximum:
        return same([](T x, T y) {
          if constexpr (is_fp<T>) {
            if (std::isnan(x) || std::isnan(y)) return T(x + y);
          }
          return x > y ? x : y;
        });
      case BinaryOp::Minimum:
        return same([](T x, T y) {
          if constexpr (is_fp<T>) {
            if (std::isnan(x) || std::isnan(y)) return T(x + y);
          }
          return x < y ? x : y;
        });
      case BinaryOp::FloorDiv:
        return same([](T x, T y) {
          if constexpr (is_fp<T>) {
            return T(std::floor(x / y));
          } else {
            T q = T(x / y);
            if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
            return q;
          }
        });
      case BinaryOp::Remainder:
        return same([](T x, T y) {
          if constexpr (is_fp<T>) {
            T r = std::fmod(x, y);
            if (r != 0 && ((r < 0) != (y < 0))) r += y;
            return r;
          } else {
            T r = T(x % y);
            if (r != 0 && ((r < 0) != (y < 0))) r = T(r + y);
            return r;
          }
        });
      case BinaryOp::Pow:
        return same([](T x, T y) {
          if constexpr (is_fp<T>) {
            return T(std::pow(x, y));
          } else {
            return int_pow<T>(x, y);
          }
        });
      case BinaryOp::Atan2:
        if constexpr (is_fp<T>) return same([](T x, T y) { return T(std::atan2(x, y)); });
        break;
      case BinaryOp::BitAnd:
        if constexpr (!is_fp<T>) return same([](T x, T y) { return T(x & y); });
        break;
      case BinaryOp::BitOr:
        if constexpr (!is_fp<T>) return same([](T x, T y) { return T(x | y); });
        break;
      case BinaryOp::BitXor:
        if constexpr (!is_fp<T>) return same([](T x, T y) { return T(x ^ y); });
        break;
      case BinaryOp::ReluBackward: return same([](T g, T v) { return v > T(0) ? g : T(0); });
      case BinaryOp::SigmoidBackward: return same([](T g, T y) { return T(g * y * (T(1) - y)); });
      case BinaryOp::TanhBackward: return same([](T g, T y) { return T(g * (T(1) - y * y)); });
      default: break;
    }
  }
  throw TypeError(str("binary op ", static_cast<int>(op), " is not implemented for dtype ",
                      dtype_name(a->dtype)));
}

// ---------------- unary ----------------

template <typename T, typename Out, typename F>
void unary_loop(const Tensor& out, const Tensor& in, F f, int64_t grain = kParallelGrain) {
  const bool stream = use_streaming_stores(out->numel() * int64_t(sizeof(Out)));
  for_each_run<2>({out.get(), in.get()}, [&f, stream](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
    if (s[0] == sizeof(Out) && s[1] == sizeof(T)) {
      // No __restrict: in-place ops (relu_, neg_) pass out == in.
      Out* o = reinterpret_cast<Out*>(p[0]);
      const T* x = reinterpret_cast<const T*>(p[1]);
      if (stream) return stream_run(o, n, [&](int64_t i) { return f(x[i]); });
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
    } else {
      char* po = p[0];
      const char* px = p[1];
      for (int64_t i = 0; i < n; ++i, po += s[0], px += s[1])
        *reinterpret_cast<Out*>(po) = f(*reinterpret_cast<const T*>(px));
    }
  }, grain);
}

template <typename T>
void unary_typed(UnaryOp op, const Tensor& out, const Tensor& in) {
  const int64_t grain = memory_bound(op) ? kMemoryBoundGrain : kParallelGrain;
  auto same = [&](auto f) { unary_loop<T, T>(out, in, f, grain); };
  if (op == UnaryOp::LogicalNot) return unary_loop<T, bool>(out, in, [](T x) { return x == T(0); }, grain);
  if constexpr (std::is_same_v<T, bool>) {
    if (op == UnaryOp::BitwiseNot) return same([](bool x) { return !x; });
    if (op == UnaryOp::Abs || op == UnaryOp::Relu || op == UnaryOp::Sign || op == UnaryOp::Square)
      return same([](bool x) { return x; });
  } else if constexpr (!is_fp<T>) {
    switch (op) {
      case UnaryOp::Neg: return same([](T x) { return T(-x); });
      case UnaryOp::Abs: return same([](T x) { return x < 0 ? T(-x) : x; });
      case UnaryOp::Relu: return same([](T x) { return x > 0 ? x : T(0); });
      case UnaryOp::Sign: return same([](T x) { return T((x > 0) - (x < 0)); });
      case UnaryOp::Square: return same([](T x) { return T(x * x); });
      case UnaryOp::BitwiseNot: return same([](T x) { return T(~x); });
      case UnaryOp::Floor:
      case UnaryOp::Ceil:
      case UnaryOp::Round:
      case UnaryOp::Trunc: return same([](T x) { return x; });
      default: break;
    }
  } else {
    switch (op) {
      case UnaryOp::Neg: return same([](T x) { return -x; });
      case UnaryOp::Abs: return same([](T x) { return std::abs(x); });
      case UnaryOp::Exp: return same([](T x) { return std::exp(x); });
      case UnaryOp::Log: return same([](T x) { return std::log(x); });
      case UnaryOp::Sqrt: return same([](T x) { return std::sqrt(x); });
      case UnaryOp::Rsqrt: return same([](T x) { return T(1) / std::sqrt(x); });
      case UnaryOp::Sin: return same([](T x) { return std::sin(x); });
      case UnaryOp::Cos: return same([](T x) { return std::cos(x); });
      case UnaryOp::Tan: return same([](T x) { return std::tan(x); });
      case UnaryOp::Tanh: return same([](T x) { return std::tanh(x); });
      case UnaryOp::Sigmoid:
        return same([](T x) {
          // Split by sign so exp never overflows.
          if (x >= 0) return T(1) / (T(1) + std::exp(-x));
          T e = std::exp(x);
          return e / (T(1) + e);
        });
      // One compare; NaN and -0.0 fail `x < 0` and pass through, as in PyTorch.
      case UnaryOp::Relu: return same([](T x) { return x < T(0) ? T(0) : x; });
      case UnaryOp::Sign: return same([](T x) { return T((x > 0) - (x < 0)); });  // sign(nan) = 0, as PyTorch
      case UnaryOp::Floor: return same([](T x) { return std::floor(x); });
      case UnaryOp::Ceil: return same([](T x) { return std::ceil(x); });
      case UnaryOp::Round: return same([](T x) { return std::nearbyint(x); });  // half to even
      case UnaryOp::Trunc: return same([](T x) { return std::trunc(x); });
      case UnaryOp::Log1p: return same([](T x) { return std::log1p(x); });
      case UnaryOp::Expm1: return same([](T x) { return std::expm1(x); });
      case UnaryOp::Log2: return same([](T x) { return std::log2(x); });
      case UnaryOp::Log10: return same([](T x) { return std::log10(x); });
      case UnaryOp::Exp2: return same([](T x) { return std::exp2(x); });
      case UnaryOp::Square: return same([](T x) { return x * x; });
      case UnaryOp::Reciprocal: return same([](T x) { return T(1) / x; });
      case UnaryOp::Erf: return same([](T x) { return std::erf(x); });
      case UnaryOp::Sinh: return same([](T x) { return std::sinh(x); });
      case UnaryOp::Cosh: return same([](T x) { return std::cosh(x); });
      default: break;
    }
  }
  throw TypeError(str("unary op ", static_cast<int>(op), " is not implemented for dtype ", dtype_name(in->dtype)));
}

}  // namespace

void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  dispatch_dtype(a->dtype, "binary op", [&](auto tag) { binary_typed<decltype(tag)>(op, out, a, b); });
}

void unary(UnaryOp op, const Tensor& out, const Tensor& in) {
  dispatch_dtype(in->dtype, "unary op", [&](auto tag) { unary_typed<decltype(tag)>(op, out, in); });
}

void clamp(const Tensor& out, const Tensor& in, bool has_lo, double lo, bool has_hi, double hi) {
  dispatch_dtype(in->dtype, "clamp", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      throw TypeError("clamp is not supported for bool tensors");
    } else {
      T l = static_cast<T>(lo), h = static_cast<T>(hi);
      unary_loop<T, T>(out, in, [=](T x) {
        if constexpr (is_fp<T>) {
          if (std::isnan(x)) return x;
        }
        if (has_lo && x < l) x = l;
        if (has_hi && x > h) x = h;
        return x;
      }, kMemoryBoundGrain);
    }
  });
}

void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  dispatch_dtype(out->dtype, "where", [&](auto tag) {
    using T = decltype(tag);
    for_each_run<4>({out.get(), cond.get(), a.get(), b.get()},
                    [](std::array<char*, 4> p, std::array<int64_t, 4> s, int64_t n) {
                      for (int64_t i = 0; i < n; ++i)
                        *reinterpret_cast<T*>(p[0] + i * s[0]) = *reinterpret_cast<const bool*>(p[1] + i * s[1])
                                                                     ? *reinterpret_cast<const T*>(p[2] + i * s[2])
                                                                     : *reinterpret_cast<const T*>(p[3] + i * s[3]);
                    });
  });
}

}  // namespace ember::cpu
