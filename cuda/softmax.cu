// Softmax / log-softmax over the last dim of a contiguous [outer, n], and
// their backward. One warp per row for n <= 1024 (eight rows per block),
// one block per row above; max, sum and output are three passes over the
// row, which stays in L1/L2 for the sizes of classification heads.
#include <cuda/std/limits>

#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace ember {
namespace cuda {

template <class A>
__device__ __forceinline__ A warp_allreduce(A v, bool is_max) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    A w = __shfl_xor_sync(0xffffffffu, v, o);
    v = is_max ? (v > w || v != v ? v : w) : v + w;
  }
  return v;
}

// All threads of the row's group get the result.
template <int GROUP, class A>
__device__ __forceinline__ A group_allreduce(A v, bool is_max) {
  v = warp_allreduce(v, is_max);
  if constexpr (GROUP > 32) {
    __shared__ A smem[32];
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    __syncthreads();  // smem reuse across calls
    if (lane == 0) smem[wid] = v;
    __syncthreads();
    const int nw = blockDim.x >> 5;
    v = lane < nw ? smem[lane] : (is_max ? -::cuda::std::numeric_limits<A>::infinity() : A(0));
    v = warp_allreduce(v, is_max);
  }
  return v;
}

template <class T>
using sm_acc_t = typename std::conditional<std::is_same<T, double>::value, double, float>::type;

template <class T, int GROUP>
__global__ void softmax_kernel(int64_t outer, int64_t n, const T* __restrict__ in, T* __restrict__ out, bool log) {
  using A = sm_acc_t<T>;
  const int rows_per_block = blockDim.x / GROUP;
  const int64_t row = int64_t(blockIdx.x) * rows_per_block + threadIdx.x / GROUP;
  const int lane = threadIdx.x % GROUP;
  const bool active = row < outer;  // inactive warps still join block reductions
  const T* x = in + (active ? row : 0) * n;
  T* y = out + (active ? row : 0) * n;
  A mx = -::cuda::std::numeric_limits<A>::infinity();
  if (active)
    for (int64_t j = lane; j < n; j += GROUP) {
      A v = widen(x[j]);
      mx = (v > mx || v != v) ? v : mx;
    }
  mx = group_allreduce<GROUP>(mx, true);
  A sum = 0;
  if (active)
    for (int64_t j = lane; j < n; j += GROUP) sum += m_exp(A(widen(x[j])) - mx);
  sum = group_allreduce<GROUP>(sum, false);
  if (!active) return;
  if (log) {
    const A lse = m_log(sum);
    for (int64_t j = lane; j < n; j += GROUP) y[j] = narrow<T>(A(widen(x[j])) - mx - lse);
  } else {
    const A inv = A(1) / sum;
    for (int64_t j = lane; j < n; j += GROUP) y[j] = narrow<T>(m_exp(A(widen(x[j])) - mx) * inv);
  }
}

// softmax:     gi = y * (go - sum(go * y))
// log-softmax: gi = go - exp(y) * sum(go)
template <class T, int GROUP>
__global__ void softmax_backward_kernel(int64_t outer, int64_t n, const T* __restrict__ go, const T* __restrict__ y,
                                        T* __restrict__ gi, bool log) {
  using A = sm_acc_t<T>;
  const int rows_per_block = blockDim.x / GROUP;
  const int64_t row = int64_t(blockIdx.x) * rows_per_block + threadIdx.x / GROUP;
  const int lane = threadIdx.x % GROUP;
  const bool active = row < outer;
  const int64_t base = (active ? row : 0) * n;
  A s = 0;
  if (active)
    for (int64_t j = lane; j < n; j += GROUP)
      s += log ? A(widen(go[base + j])) : A(widen(go[base + j])) * A(widen(y[base + j]));
  s = group_allreduce<GROUP>(s, false);
  if (!active) return;
  for (int64_t j = lane; j < n; j += GROUP) {
    const A g = widen(go[base + j]), v = widen(y[base + j]);
    gi[base + j] = narrow<T>(log ? g - m_exp(v) * s : v * (g - s));
  }
}

static void row_shape(const Tensor& t, int64_t* outer, int64_t* n) {
  *n = t->shape.empty() ? 1 : t->shape.back();
  *outer = *n == 0 ? 0 : t->numel() / *n;
}

void softmax_cuda(const Tensor& out, const Tensor& in, bool log) {
  int64_t outer, n;
  row_shape(in, &outer, &n);
  if (outer == 0) return;
  dispatch_floating(in->dtype, "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (n > 1024) {
      softmax_kernel<T, kThreads><<<static_cast<unsigned>(outer), kThreads, 0, stream()>>>(
          outer, n, data_ptr<T>(in), data_ptr<T>(out), log);
    } else {
      softmax_kernel<T, 32><<<static_cast<unsigned>(ceil_div(outer, kThreads / 32)), kThreads, 0, stream()>>>(
          outer, n, data_ptr<T>(in), data_ptr<T>(out), log);
    }
    EMBER_CUDA_LAUNCH_CHECK("softmax_kernel");
  });
}

void softmax_backward_cuda(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log) {
  int64_t outer, n;
  row_shape(out, &outer, &n);
  if (outer == 0) return;
  dispatch_floating(out->dtype, "softmax_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (n > 1024) {
      softmax_backward_kernel<T, kThreads><<<static_cast<unsigned>(outer), kThreads, 0, stream()>>>(
          outer, n, data_ptr<T>(grad_out), data_ptr<T>(out), data_ptr<T>(grad_in), log);
    } else {
      softmax_backward_kernel<T, 32><<<static_cast<unsigned>(ceil_div(outer, kThreads / 32)), kThreads, 0, stream()>>>(
          outer, n, data_ptr<T>(grad_out), data_ptr<T>(out), data_ptr<T>(grad_in), log);
    }
    EMBER_CUDA_LAUNCH_CHECK("softmax_backward_kernel");
  });
}

}  // namespace cuda
}  // namespace ember
