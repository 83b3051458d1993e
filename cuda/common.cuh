// Shared helpers of the CUDA kernels: error checking that throws (never
// exits), the device guard, storage types and their conversions, dtype
// dispatch and launch sizes. Included by .cu files only.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "csrc/error.h"
#include "csrc/tensor.h"
#include "cuda/index_math.h"
#include "cuda/ops_math.h"

namespace ember {
namespace cuda {

// Throws ember::Error naming the failing call, the CUDA error and the device.
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);

#define EMBER_CUDA_CHECK(call)                                                        \
  do {                                                                                \
    cudaError_t ember_err_ = (call);                                                  \
    if (ember_err_ != cudaSuccess) ::ember::cuda::throw_cuda_error(ember_err_, #call, __FILE__, __LINE__); \
  } while (0)
// After a launch: configuration errors surface here, asynchronous faults at
// the next synchronizing call.
void check_launch(const char* kernel_name, const char* file, int line);
#define EMBER_CUDA_LAUNCH_CHECK(kernel_name) ::ember::cuda::check_launch(kernel_name, __FILE__, __LINE__)

// Every kernel runs on the legacy default stream of its device, which keeps
// the caching allocator's reuse stream-ordered without events.
inline cudaStream_t stream() { return 0; }

// Throws a clear error unless `device` is a visible CUDA device index.
void check_index(int device);

// Makes `device` current for a scope, restoring the previous one.
struct DeviceGuard {
  int prev = -1;
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;
};

int sm_count();                  // of the current device, cached
int compute_capability_major();  // of the current device, cached (8 for sm_80, 9 for sm_90)

// Scratch memory from the caching allocator, freed (stream-ordered) at scope end.
struct Workspace {
  void* ptr = nullptr;
  size_t nbytes = 0;
  int device = 0;
  Workspace(size_t n, int dev);
  ~Workspace();
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr);
  }
};
void* allocator_allocate(size_t nbytes, int device);
void allocator_deallocate(void* ptr, int device);

// ---- storage types and conversions ----
using half_t = __half;
using bf16_t = __nv_bfloat16;

template <class T>
struct IsHalfLike : std::bool_constant<std::is_same<T, half_t>::value || std::is_same<T, bf16_t>::value> {};

// The type kernels compute in: float for 16-bit floats, int for bool, else T.
template <class T>
struct ComputeT {
  using type = T;
};
template <>
struct ComputeT<half_t> {
  using type = float;
};
template <>
struct ComputeT<bf16_t> {
  using type = float;
};
template <>
struct ComputeT<bool> {
  using type = int;
};
template <class T>
using compute_t = typename ComputeT<T>::type;

template <class T>
__host__ __device__ __forceinline__ compute_t<T> widen(T x) {
  if constexpr (std::is_same<T, half_t>::value) {
    return __half2float(x);
  } else if constexpr (std::is_same<T, bf16_t>::value) {
    return __bfloat162float(x);
  } else {
    return static_cast<compute_t<T>>(x);
  }
}

template <class D, class W>
__host__ __device__ __forceinline__ D narrow(W w) {
  if constexpr (std::is_same<D, half_t>::value) {
    if constexpr (std::is_same<W, double>::value) return __double2half(w);
    else return __float2half_rn(static_cast<float>(w));
  } else if constexpr (std::is_same<D, bf16_t>::value) {
    if constexpr (std::is_same<W, double>::value) return __double2bfloat16(w);
    else return __float2bfloat16_rn(static_cast<float>(w));
  } else if constexpr (std::is_same<D, bool>::value) {
    return w != W(0);
  } else if constexpr (std::is_unsigned<D>::value && std::is_floating_point<W>::value) {
    // Through int, as the CPU backend's compiled conversion goes: -1.5 ->
    // uint8 255. A direct cast becomes the device's float-to-u32 conversion,
    // which clamps negative values to 0.
    return static_cast<D>(static_cast<int>(w));
  } else {
    return static_cast<D>(w);
  }
}

template <class D, class S>
__host__ __device__ __forceinline__ D convert(S s) {
  if constexpr (std::is_same<D, S>::value) return s;
  else return narrow<D>(widen(s));
}

// ---- dtype dispatch: f(Tag<T>{}) with T the storage type of `dt` ----
template <class T>
struct Tag {
  using type = T;
};

template <class F>
void dispatch_all(DType dt, F&& f) {
  switch (dt) {
    case DType::Bool: f(Tag<bool>{}); break;
    case DType::UInt8: f(Tag<uint8_t>{}); break;
    case DType::Int8: f(Tag<int8_t>{}); break;
    case DType::Int16: f(Tag<int16_t>{}); break;
    case DType::Int32: f(Tag<int32_t>{}); break;
    case DType::Int64: f(Tag<int64_t>{}); break;
    case DType::Float16: f(Tag<half_t>{}); break;
    case DType::BFloat16: f(Tag<bf16_t>{}); break;
    case DType::Float32: f(Tag<float>{}); break;
    case DType::Float64: f(Tag<double>{}); break;
  }
}
template <class F>
void dispatch_floating(DType dt, const char* what, F&& f) {
  switch (dt) {
    case DType::Float16: f(Tag<half_t>{}); break;
    case DType::BFloat16: f(Tag<bf16_t>{}); break;
    case DType::Float32: f(Tag<float>{}); break;
    case DType::Float64: f(Tag<double>{}); break;
    default: throw TypeError(str(what, " on CUDA is not implemented for ", dtype_name(dt)));
  }
}

// ---- tensors as kernel arguments ----
template <class T>
T* data_ptr(const Tensor& t) {
  return reinterpret_cast<T*>(static_cast<char*>(t->storage->data) + t->offset * static_cast<int64_t>(sizeof(T)));
}

// Layout over tensors sharing `shape`; throws for more than kMaxDims dims
// that cannot be coalesced.
template <int N>
Layout<N> layout_of(const Shape& shape, const Tensor* const ts[N]) {
  const std::vector<int64_t>* strides[N];
  for (int k = 0; k < N; ++k) strides[k] = &(*ts[k])->strides;
  Layout<N> L;
  EMBER_CHECK(make_layout<N>(shape, strides, &L), Error, "CUDA kernels support at most ", kMaxDims,
              " non-contiguous dims, got shape ", shape_str(shape));
  return L;
}

constexpr int kThreads = 256;
// Blocks for a grid-stride loop over n items with `per_thread` each.
inline unsigned grid_for(int64_t n, int per_thread = 1) {
  int64_t blocks = ceil_div(n, int64_t(kThreads) * per_thread);
  const int64_t cap = int64_t(sm_count()) * 32;
  if (blocks > cap) blocks = cap;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

}  // namespace cuda
}  // namespace ember
