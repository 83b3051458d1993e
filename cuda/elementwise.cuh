// The elementwise engine: apply a device functor to N inputs and one output
// sharing a shape. Contiguous, aligned operands take a vectorized path
// (16-byte loads and stores); everything else (broadcast stride-0 views,
// transposes, slices) walks a coalesced strided layout.
#pragma once
#include <cuda/std/tuple>
#include <algorithm>
#include <utility>

#include "cuda/common.cuh"

namespace ember {
namespace cuda {

template <class T, int VEC>
struct alignas(sizeof(T) * VEC) Pack {
  T v[VEC];
};

template <int VEC, class Op, class To, class... Ti, size_t... I>
__device__ __forceinline__ void ew_vec_step(int64_t v, Op& op, To* out, std::index_sequence<I...>,
                                            const Ti*... in) {
  ::cuda::std::tuple<Pack<Ti, VEC>...> p(reinterpret_cast<const Pack<Ti, VEC>*>(in)[v]...);
  Pack<To, VEC> po;
#pragma unroll
  for (int j = 0; j < VEC; ++j) po.v[j] = op(::cuda::std::get<I>(p).v[j]...);
  reinterpret_cast<Pack<To, VEC>*>(out)[v] = po;
}

template <int VEC, class Op, class To, class... Ti>
__global__ void ew_contig_kernel(int64_t n, Op op, To* out, const Ti*... in) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t tid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t nvec = n / VEC;
  for (int64_t v = tid; v < nvec; v += stride)
    ew_vec_step<VEC>(v, op, out, std::index_sequence_for<Ti...>{}, in...);
  for (int64_t i = nvec * VEC + tid; i < n; i += stride) out[i] = op(in[i]...);
}

template <int N, class Op, class To, class... Ti, size_t... I>
__device__ __forceinline__ void ew_strided_step(const Layout<N>& L, int64_t i, Op& op, To* out,
                                                std::index_sequence<I...>, const Ti*... in) {
  int64_t off[N];
  L.offsets(i, off);
  out[off[0]] = op(in[off[I + 1]]...);
}

template <int N, class Op, class To, class... Ti>
__global__ void ew_strided_kernel(Layout<N> L, Op op, To* out, const Ti*... in) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < L.numel; i += stride)
    ew_strided_step<N>(L, i, op, out, std::index_sequence_for<Ti...>{}, in...);
}

inline bool aligned(const void* p, size_t bytes) { return (reinterpret_cast<uintptr_t>(p) % bytes) == 0; }


// out[i] = op(in0[i], in1[i], ...) over out's shape. `Ti` are the storage
// types of the inputs; `op` a __device__ functor from Ti... to To.
template <class To, class... Ti, class Op>
void elementwise(const char* name, Op op, const Tensor& out, const std::pair<const Tensor*, Ti*>... ins) {
  constexpr int N = 1 + sizeof...(Ti);
  const Tensor* ts[N] = {&out, ins.first...};
  Layout<N> L = layout_of<N>(out->shape, ts);
  if (L.numel == 0) return;
  To* po = data_ptr<To>(out);
  if (L.all_contiguous()) {
    constexpr size_t widest = std::max({sizeof(To), sizeof(Ti)...});
    constexpr int VEC = widest >= 16 ? 1 : int(16 / widest);
    bool ok = aligned(po, sizeof(To) * VEC);
    ((ok = ok && aligned(data_ptr<Ti>(*ins.first), sizeof(Ti) * VEC)), ...);
    if (ok) {
      ew_contig_kernel<VEC><<<grid_for(L.numel, VEC), kThreads, 0, stream()>>>(L.numel, op, po,
                                                                             (const Ti*)data_ptr<Ti>(*ins.first)...);
    } else {
      ew_contig_kernel<1><<<grid_for(L.numel), kThreads, 0, stream()>>>(L.numel, op, po,
                                                                        (const Ti*)data_ptr<Ti>(*ins.first)...);
    }
  } else {
    ew_strided_kernel<N><<<grid_for(L.numel), kThreads, 0, stream()>>>(L, op, po,
                                                                      (const Ti*)data_ptr<Ti>(*ins.first)...);
  }
  EMBER_CUDA_LAUNCH_CHECK(name);
}

// Typed argument for elementwise(): arg<T>(tensor).
template <class T>
std::pair<const Tensor*, T*> arg(const Tensor& t) {
  return {&t, nullptr};
}

}  // namespace cuda
}  // namespace ember
