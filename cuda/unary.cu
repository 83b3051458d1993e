// Unary elementwise ops and clamp. The math of each op is unary_apply in
// ops_math.h (host-tested); 16-bit floats compute in float. The op is a
// runtime value switched on per element: the kernels are bandwidth-bound,
// so the switch is free, and one kernel per dtype keeps build times short.
#include "cuda/elementwise.cuh"
#include "cuda/kernels.h"

namespace ember {
namespace cuda {

template <class T>
struct UnaryFn {
  UnaryOp op;
  __device__ __forceinline__ T operator()(T x) const { return narrow<T>(unary_apply(op, widen(x))); }
};
template <class T>
struct LogicalNotFn {
  __device__ __forceinline__ bool operator()(T x) const { return widen(x) == compute_t<T>(0); }
};
// Relu gets its own instantiation: it is the hot op of every MLP.
template <class T>
struct ReluFn {
  __device__ __forceinline__ T operator()(T x) const {
    auto v = widen(x);
    return v <= decltype(v)(0) ? narrow<T>(decltype(v)(0)) : x;
  }
};

void unary_cuda(UnaryOp op, const Tensor& out, const Tensor& in) {
  if (in->dtype == DType::Bool && op == UnaryOp::BitwiseNot) op = UnaryOp::LogicalNot;
  dispatch_all(in->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (op == UnaryOp::LogicalNot) {
      if (out->dtype == DType::Bool) {
        elementwise<bool>("logical_not_kernel", LogicalNotFn<T>{}, out, arg<T>(in));
      } else {  // tolerate a same-dtype output: 1/0 in T
        elementwise<T>("logical_not_kernel", UnaryFn<T>{op}, out, arg<T>(in));
      }
    } else if (op == UnaryOp::Relu) {
      elementwise<T>("relu_kernel", ReluFn<T>{}, out, arg<T>(in));
    } else {
      elementwise<T>("unary_kernel", UnaryFn<T>{op}, out, arg<T>(in));
    }
  });
}

template <class T>
struct ClampFn {
  bool has_lo, has_hi;
  compute_t<T> lo, hi;
  __device__ __forceinline__ T operator()(T x) const {
    return narrow<T>(clamp_apply(widen(x), has_lo, lo, has_hi, hi));
  }
};

void clamp_cuda(const Tensor& out, const Tensor& in, bool has_lo, double lo, bool has_hi, double hi) {
  dispatch_all(in->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = compute_t<T>;
    ClampFn<T> fn{has_lo, has_hi, static_cast<C>(lo), static_cast<C>(hi)};
    elementwise<T>("clamp_kernel", fn, out, arg<T>(in));
  });
}

}  // namespace cuda
}  // namespace ember
