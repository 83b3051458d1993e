// The arithmetic of every elementwise and reduction primitive, written once
// for the compute types (float, double, int64_t) and compiled both for the
// host and the device. The CUDA kernels only move data; what each op *means*
// lives here, where g++ tests pin it down against the C++ standard library
// (and where the CPU backend may use it too, so both devices agree).
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "csrc/backend.h"
#include "csrc/hd.h"

namespace ember {
namespace cuda {

// ---- math wrappers: one name for float and double on host and device ----
#define EMBER_MATH1(name, ffn, dfn)                        \
  EMBER_HD float m_##name(float x) { return ffn(x); }      \
  EMBER_HD double m_##name(double x) { return dfn(x); }
EMBER_MATH1(exp, expf, exp)
EMBER_MATH1(log, logf, log)
EMBER_MATH1(sqrt, sqrtf, sqrt)
EMBER_MATH1(sin, sinf, sin)
EMBER_MATH1(cos, cosf, cos)
EMBER_MATH1(tan, tanf, tan)
EMBER_MATH1(tanh, tanhf, tanh)
EMBER_MATH1(floor, floorf, floor)
EMBER_MATH1(ceil, ceilf, ceil)
EMBER_MATH1(rint, rintf, rint)
EMBER_MATH1(trunc, truncf, trunc)
EMBER_MATH1(log1p, log1pf, log1p)
EMBER_MATH1(expm1, expm1f, expm1)
EMBER_MATH1(log2, log2f, log2)
EMBER_MATH1(log10, log10f, log10)
EMBER_MATH1(exp2, exp2f, exp2)
EMBER_MATH1(erf, erff, erf)
EMBER_MATH1(sinh, sinhf, sinh)
EMBER_MATH1(cosh, coshf, cosh)
EMBER_MATH1(fabs, fabsf, fabs)
#undef EMBER_MATH1
EMBER_HD float m_pow(float a, float b) { return powf(a, b); }
EMBER_HD double m_pow(double a, double b) { return pow(a, b); }
EMBER_HD float m_fmod(float a, float b) { return fmodf(a, b); }
EMBER_HD double m_fmod(double a, double b) { return fmod(a, b); }
EMBER_HD float m_atan2(float a, float b) { return atan2f(a, b); }
EMBER_HD double m_atan2(double a, double b) { return atan2(a, b); }
EMBER_HD float m_copysign(float a, float b) { return copysignf(a, b); }
EMBER_HD double m_copysign(double a, double b) { return copysign(a, b); }

template <class C>
EMBER_HD bool is_neg(C x) {
  if constexpr (std::is_unsigned<C>::value) return false;
  else return x < C(0);
}
template <class C>
EMBER_HD bool is_nan(C x) {
  return x != x;  // false for integers
}

// ---- unary ----
// Integer tensors only reach the ops that make sense for them (the op layer
// promotes the rest to floating); integers still compile every case through
// double so that a stray call cannot crash.
template <class C>
EMBER_HD C unary_apply(UnaryOp op, C x) {
  if constexpr (std::is_floating_point<C>::value) {
    switch (op) {
      case UnaryOp::Neg: return -x;
      case UnaryOp::Abs: return m_fabs(x);
      case UnaryOp::Exp: return m_exp(x);
      case UnaryOp::Log: return m_log(x);
      case UnaryOp::Sqrt: return m_sqrt(x);
      case UnaryOp::Rsqrt: return C(1) / m_sqrt(x);
      case UnaryOp::Sin: return m_sin(x);
      case UnaryOp::Cos: return m_cos(x);
      case UnaryOp::Tan: return m_tan(x);
      case UnaryOp::Tanh: return m_tanh(x);
      case UnaryOp::Sigmoid: return C(1) / (C(1) + m_exp(-x));
      case UnaryOp::Relu: return x <= C(0) ? C(0) : x;  // NaN stays NaN, as in PyTorch
      case UnaryOp::Sign: return C((x > C(0)) - (x < C(0)));  // sign(nan) = 0, as the CPU backend
      case UnaryOp::Floor: return m_floor(x);
      case UnaryOp::Ceil: return m_ceil(x);
      case UnaryOp::Round: return m_rint(x);  // half to even, as torch.round
      case UnaryOp::Trunc: return m_trunc(x);
      case UnaryOp::Log1p: return m_log1p(x);
      case UnaryOp::Expm1: return m_expm1(x);
      case UnaryOp::Log2: return m_log2(x);
      case UnaryOp::Log10: return m_log10(x);
      case UnaryOp::Exp2: return m_exp2(x);
      case UnaryOp::Square: return x * x;
      case UnaryOp::Reciprocal: return C(1) / x;
      case UnaryOp::Erf: return m_erf(x);
      case UnaryOp::Sinh: return m_sinh(x);
      case UnaryOp::Cosh: return m_cosh(x);
      case UnaryOp::LogicalNot: return C(x == C(0));
      case UnaryOp::BitwiseNot: return x;  // not defined for floats
      default: return x;
    }
  } else {
    switch (op) {
      case UnaryOp::Neg: return C(-x);
      case UnaryOp::Abs: if constexpr (std::is_unsigned<C>::value) return x; else return x < 0 ? C(-x) : x;
      case UnaryOp::Relu: return x > 0 ? x : C(0);
      case UnaryOp::Sign: if constexpr (std::is_unsigned<C>::value) return C(x > 0); else return C((x > 0) - (x < 0));
      case UnaryOp::Floor:
      case UnaryOp::Ceil:
      case UnaryOp::Round:
      case UnaryOp::Trunc: return x;
      case UnaryOp::Square: return C(x * x);
      case UnaryOp::LogicalNot: return C(x == 0);
      case UnaryOp::BitwiseNot: return C(~x);
      default: return C(unary_apply<double>(op, double(x)));
    }
  }
}

// ---- binary (non-comparison) ----
// Python's floor division and modulo (the sign follows the divisor), as
// torch.floor_divide / torch.remainder compute them for floats.
template <class C>
EMBER_HD C floor_div_float(C a, C b) {
  if (b == C(0)) return a / b;
  C mod = m_fmod(a, b);
  C div = (a - mod) / b;
  if (mod != C(0) && ((b < C(0)) != (mod < C(0)))) div -= C(1);
  C fd;
  if (div != C(0)) {
    fd = m_floor(div);
    if (div - fd > C(0.5)) fd += C(1);
  } else {
    fd = m_copysign(C(0), a / b);
  }
  return fd;
}
template <class C>
EMBER_HD C remainder_float(C a, C b) {
  C r = m_fmod(a, b);
  if (r != C(0) && ((b < C(0)) != (r < C(0)))) r += b;
  return r;
}
template <class C>
EMBER_HD C int_pow(C a, C e) {
  if (is_neg(e)) {
    if constexpr (std::is_signed<C>::value) return a == 1 ? C(1) : (a == C(-1) ? C((e & 1) ? -1 : 1) : C(0));
  }
  C r = 1;
  while (e) {
    if (e & 1) r = C(r * a);
    a = C(a * a);
    e >>= 1;
  }
  return r;
}

template <class C>
EMBER_HD C binary_apply(BinaryOp op, C a, C b) {
  if constexpr (std::is_floating_point<C>::value) {
    switch (op) {
      case BinaryOp::Add: return a + b;
      case BinaryOp::Sub: return a - b;
      case BinaryOp::Mul: return a * b;
      case BinaryOp::Div: return a / b;
      case BinaryOp::FloorDiv: return floor_div_float(a, b);
      case BinaryOp::Remainder: return remainder_float(a, b);
      case BinaryOp::Pow: return m_pow(a, b);
      case BinaryOp::Maximum: return is_nan(a) ? a : is_nan(b) ? b : (a > b ? a : b);
      case BinaryOp::Minimum: return is_nan(a) ? a : is_nan(b) ? b : (a < b ? a : b);
      case BinaryOp::Atan2: return m_atan2(a, b);
      case BinaryOp::ReluBackward: return b > C(0) ? a : C(0);
      case BinaryOp::SigmoidBackward: return a * b * (C(1) - b);
      case BinaryOp::TanhBackward: return a * (C(1) - b * b);
      default: return C(0);  // bitwise ops are not defined for floats
    }
  } else {
    switch (op) {
      case BinaryOp::Add: return C(a + b);
      case BinaryOp::Sub: return C(a - b);
      case BinaryOp::Mul: return C(a * b);
      case BinaryOp::Div:  // truncating; the op layer promotes true division
      case BinaryOp::FloorDiv: {
        if (b == 0) return C(0);  // PyTorch raises on the CPU; never crash here
        C q = C(a / b);
        if (op == BinaryOp::FloorDiv && (a % b != 0) && (is_neg(a) != is_neg(b))) --q;
        return q;
      }
      case BinaryOp::Remainder: {
        if (b == 0) return C(0);
        C r = C(a % b);
        if (r != 0 && (is_neg(r) != is_neg(b))) r = C(r + b);
        return r;
      }
      case BinaryOp::Pow: return int_pow(a, b);
      case BinaryOp::Maximum: return a > b ? a : b;
      case BinaryOp::Minimum: return a < b ? a : b;
      case BinaryOp::Atan2: return C(m_atan2(double(a), double(b)));
      case BinaryOp::BitAnd: return C(a & b);
      case BinaryOp::BitOr: return C(a | b);
      case BinaryOp::BitXor: return C(a ^ b);
      case BinaryOp::ReluBackward: return b > 0 ? a : C(0);
      case BinaryOp::SigmoidBackward: return C(a * b * (1 - b));
      case BinaryOp::TanhBackward: return C(a * (1 - b * b));
      default: return C(0);
    }
  }
}

// Comparisons and logical ops: is_comparison(op) is true, result is Bool.
template <class C>
EMBER_HD bool compare_apply(BinaryOp op, C a, C b) {
  switch (op) {
    case BinaryOp::Eq: return a == b;
    case BinaryOp::Ne: return a != b;
    case BinaryOp::Lt: return a < b;
    case BinaryOp::Le: return a <= b;
    case BinaryOp::Gt: return a > b;
    case BinaryOp::Ge: return a >= b;
    case BinaryOp::LogicalAnd: return (a != C(0)) && (b != C(0));
    case BinaryOp::LogicalOr: return (a != C(0)) || (b != C(0));
    case BinaryOp::LogicalXor: return (a != C(0)) != (b != C(0));
    default: return false;
  }
}

// min(max(x, lo), hi) that keeps NaN inputs NaN.
template <class C>
EMBER_HD C clamp_apply(C x, bool has_lo, C lo, bool has_hi, C hi) {
  if (has_lo && x < lo) x = lo;
  if (has_hi && x > hi) x = hi;
  return x;
}

// ---- reductions ----
template <class A>
EMBER_HD A reduce_identity(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return A(0);
    case ReduceOp::Prod: return A(1);
    case ReduceOp::Any: return A(0);
    case ReduceOp::All: return A(1);
    default: return A(0);  // Max/Min start from the first element instead
  }
}
// Combining two partial results. Max/Min propagate NaN; Any/All work on
// 0/1 values.
template <class A>
EMBER_HD A reduce_combine(ReduceOp op, A a, A b) {
  switch (op) {
    case ReduceOp::Sum: return a + b;
    case ReduceOp::Prod: return a * b;
    case ReduceOp::Max: return is_nan(a) ? a : is_nan(b) ? b : (a > b ? a : b);
    case ReduceOp::Min: return is_nan(a) ? a : is_nan(b) ? b : (a < b ? a : b);
    case ReduceOp::Any: return (a != A(0) || b != A(0)) ? A(1) : A(0);
    case ReduceOp::All: return (a != A(0) && b != A(0)) ? A(1) : A(0);
    default: return a;
  }
}

// (value, index) pairs for argmax/argmin: the first extreme index wins, and
// the first NaN beats everything (PyTorch's rule).
template <class A>
struct ArgPair {
  A v;
  int64_t i;
};
template <class A>
EMBER_HD ArgPair<A> arg_combine(bool is_max, ArgPair<A> a, ArgPair<A> b) {
  if (b.i < 0) return a;
  if (a.i < 0) return b;
  bool an = is_nan(a.v), bn = is_nan(b.v);
  if (an || bn) {
    if (an && bn) return a.i < b.i ? a : b;
    return an ? a : b;
  }
  if (is_max ? (a.v > b.v) : (a.v < b.v)) return a;
  if (is_max ? (b.v > a.v) : (b.v < a.v)) return b;
  return a.i < b.i ? a : b;
}

}  // namespace cuda
}  // namespace ember
