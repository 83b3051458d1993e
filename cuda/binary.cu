// Binary elementwise ops (arithmetic, comparisons, logical, bitwise and the
// fused backward helpers) and where(). Broadcast operands arrive as stride-0
// views and take the strided path; contiguous operands use 16-byte vectors.
#include "cuda/elementwise.cuh"
#include "cuda/kernels.h"

namespace ember {
namespace cuda {

template <class T>
struct BinaryFn {
  BinaryOp op;
  __device__ __forceinline__ T operator()(T a, T b) const {
    return narrow<T>(binary_apply(op, widen(a), widen(b)));
  }
};
template <class T>
struct CompareFn {
  BinaryOp op;
  __device__ __forceinline__ bool operator()(T a, T b) const { return compare_apply(op, widen(a), widen(b)); }
};
// The ops of the training hot path get their own kernels.
template <class T>
struct AddFn {
  __device__ __forceinline__ T operator()(T a, T b) const { return narrow<T>(widen(a) + widen(b)); }
};
template <class T>
struct MulFn {
  __device__ __forceinline__ T operator()(T a, T b) const { return narrow<T>(widen(a) * widen(b)); }
};

void binary_cuda(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  dispatch_all(a->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (is_comparison(op)) {
      elementwise<bool>("compare_kernel", CompareFn<T>{op}, out, arg<T>(a), arg<T>(b));
    } else if (op == BinaryOp::Add && !std::is_same<T, bool>::value) {
      elementwise<T>("add_kernel", AddFn<T>{}, out, arg<T>(a), arg<T>(b));
    } else if (op == BinaryOp::Mul && !std::is_same<T, bool>::value) {
      elementwise<T>("mul_kernel", MulFn<T>{}, out, arg<T>(a), arg<T>(b));
    } else {
      elementwise<T>("binary_kernel", BinaryFn<T>{op}, out, arg<T>(a), arg<T>(b));
    }
  });
}

template <class T>
struct WhereFn {
  __device__ __forceinline__ T operator()(bool c, T a, T b) const { return c ? a : b; }
};

void where_cuda(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  dispatch_all(out->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    elementwise<T>("where_kernel", WhereFn<T>{}, out, arg<bool>(cond), arg<T>(a), arg<T>(b));
  });
}

}  // namespace cuda
}  // namespace ember
