// Copies with dtype conversion over arbitrary strides, and fill. A same-dtype
// copy between contiguous tensors is one cudaMemcpyAsync (device-to-device);
// everything else runs the elementwise engine with a converting functor.
#include "cuda/elementwise.cuh"
#include "cuda/kernels.h"

namespace ember {
namespace cuda {

template <class D, class S>
struct ConvertOp {
  __device__ __forceinline__ D operator()(S s) const { return convert<D>(s); }
};

void copy_cuda(const Tensor& dst, const Tensor& src) {
  if (dst->numel() == 0) return;
  if (dst->dtype == src->dtype && dst->is_contiguous() && src->is_contiguous()) {
    EMBER_CUDA_CHECK(cudaMemcpyAsync(dst->data_bytes(), src->data_bytes(), dst->numel() * itemsize(dst->dtype),
                                     cudaMemcpyDeviceToDevice, stream()));
    return;
  }
  dispatch_all(dst->dtype, [&](auto dt) {
    using D = typename decltype(dt)::type;
    dispatch_all(src->dtype, [&](auto st) {
      using S = typename decltype(st)::type;
      elementwise<D>("copy_kernel", ConvertOp<D, S>{}, dst, arg<S>(src));
    });
  });
}

template <class T>
struct FillOp {
  T value;
  __device__ __forceinline__ T operator()() const { return value; }
};

// The host-side value of a Python number in dtype T.
template <class T>
T scalar_as(const Scalar& s) {
  if constexpr (std::is_same<T, bool>::value) {
    return s.to_double() != 0.0;
  } else if constexpr (std::is_integral<T>::value) {
    return static_cast<T>(s.to_int());
  } else {
    return narrow<T>(s.to_double());
  }
}

void fill_cuda(const Tensor& dst, const Scalar& value) {
  dispatch_all(dst->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    elementwise<T>("fill_kernel", FillOp<T>{scalar_as<T>(value)}, dst);
  });
}

}  // namespace cuda
}  // namespace ember
