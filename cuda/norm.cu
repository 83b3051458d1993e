// Normalization primitives on CUDA (contracts in csrc/backend.h): per-channel
// statistics of a contiguous [N, C, S], the per-channel affine apply, and
// the backward's reduction and apply.
//
// The reductions are deterministic without atomics: channel c's N*S values
// split into chunks of kChunk (a split fixed by the sizes), one block per
// (channel, chunk). Each thread keeps a Welford state (statistics) or two
// sums (backward), the block merges them in a fixed tree (warp shuffles,
// then shared memory), and writes one partial per chunk; a second kernel
// merges a channel's partials in chunk order (Chan's formula for the
// statistics). Accumulation is in double.
#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace ember {
namespace cuda {

namespace {

constexpr int64_t kChunk = 8192;  // values of one channel per block: 32 per thread

struct Welford {
  double count, mean, m2;
};

__device__ __forceinline__ Welford merge(Welford a, Welford b) {
  const double n = a.count + b.count;
  if (n == 0) return a;
  const double delta = b.mean - a.mean;
  const double wb = b.count / n;
  return Welford{n, a.mean + delta * wb, a.m2 + b.m2 + delta * delta * a.count * wb};
}

__device__ __forceinline__ Welford shfl_down(Welford w, int offset) {
  return Welford{__shfl_down_sync(0xffffffffu, w.count, offset), __shfl_down_sync(0xffffffffu, w.mean, offset),
                 __shfl_down_sync(0xffffffffu, w.m2, offset)};
}

// Merges the block's states in a fixed order; thread 0 gets the result.
__device__ Welford block_merge(Welford w) {
  __shared__ Welford smem[kThreads / 32];
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
  for (int o = 16; o > 0; o >>= 1) w = merge(w, shfl_down(w, o));
  if (lane == 0) smem[wid] = w;
  __syncthreads();
  if (wid == 0) {
    w = lane < kThreads / 32 ? smem[lane] : Welford{0, 0, 0};
    for (int o = 16; o > 0; o >>= 1) w = merge(w, shfl_down(w, o));
  }
  return w;
}

__device__ double2 block_sum2(double a, double b) {
  __shared__ double2 smem[kThreads / 32];
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
  for (int o = 16; o > 0; o >>= 1) {
    a += __shfl_down_sync(0xffffffffu, a, o);
    b += __shfl_down_sync(0xffffffffu, b, o);
  }
  if (lane == 0) smem[wid] = make_double2(a, b);
  __syncthreads();
  double2 r = make_double2(0, 0);
  if (wid == 0) {
    r = lane < kThreads / 32 ? smem[lane] : make_double2(0, 0);
    for (int o = 16; o > 0; o >>= 1) {
      r.x += __shfl_down_sync(0xffffffffu, r.x, o);
      r.y += __shfl_down_sync(0xffffffffu, r.y, o);
    }
  }
  return r;
}

// Walks value k = begin + threadIdx.x, k += blockDim.x of channel c
// (n = k / S, s = k % S) without a division per step.
struct ChannelCursor {
  int64_t n, s, step_n, step_s, S, row, base;
  __device__ ChannelCursor(int64_t k, int64_t S_, int64_t C, int64_t c, int64_t stride)
      : n(k / S_), s(k % S_), step_n(stride / S_), step_s(stride % S_), S(S_), row(C * S_), base(c * S_) {}
  __device__ int64_t offset() const { return n * row + base + s; }
  __device__ void advance() {
    n += step_n;
    s += step_s;
    if (s >= S) {
      s -= S;
      ++n;
    }
  }
};

template <class T>
__global__ void stats_partial_kernel(const T* __restrict__ x, int64_t C, int64_t S, int64_t M, int64_t splits,
                                     double* __restrict__ partial) {
  const int64_t c = blockIdx.x / splits, j = blockIdx.x % splits;
  const int64_t begin = j * kChunk, end = min(M, begin + kChunk);
  Welford w{0, 0, 0};
  int64_t k = begin + threadIdx.x;
  if (k < end) {
    ChannelCursor cur(k, S, C, c, blockDim.x);
    for (; k < end; k += blockDim.x, cur.advance()) {
      const double v = double(x[cur.offset()]);
      w.count += 1;
      const double delta = v - w.mean;
      w.mean += delta / w.count;
      w.m2 += delta * (v - w.mean);
    }
  }
  w = block_merge(w);
  if (threadIdx.x == 0) {
    double* p = partial + (c * splits + j) * 3;
    p[0] = w.count;
    p[1] = w.mean;
    p[2] = w.m2;
  }
}

template <class T>
__global__ void stats_finalize_kernel(const double* __restrict__ partial, int64_t C, int64_t splits,
                                      T* __restrict__ mean, T* __restrict__ var) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  Welford w{0, 0, 0};
  for (int64_t j = 0; j < splits; ++j) {
    const double* p = partial + (c * splits + j) * 3;
    w = merge(w, Welford{p[0], p[1], p[2]});
  }
  mean[c] = T(w.mean);
  var[c] = T(w.m2 / w.count);
}

template <class T>
__global__ void backward_partial_kernel(const T* __restrict__ dy, const T* __restrict__ x,
                                        const T* __restrict__ mean, int64_t C, int64_t S, int64_t M,
                                        int64_t splits, double* __restrict__ partial) {
  const int64_t c = blockIdx.x / splits, j = blockIdx.x % splits;
  const int64_t begin = j * kChunk, end = min(M, begin + kChunk);
  const double m = double(mean[c]);
  double a = 0, b = 0;
  int64_t k = begin + threadIdx.x;
  if (k < end) {
    ChannelCursor cur(k, S, C, c, blockDim.x);
    for (; k < end; k += blockDim.x, cur.advance()) {
      const int64_t off = cur.offset();
      const double g = double(dy[off]);
      a += g;
      b += g * (double(x[off]) - m);
    }
  }
  const double2 r = block_sum2(a, b);
  if (threadIdx.x == 0) {
    partial[(c * splits + j) * 2] = r.x;
    partial[(c * splits + j) * 2 + 1] = r.y;
  }
}

template <class T>
__global__ void backward_finalize_kernel(const double* __restrict__ partial, int64_t C, int64_t splits,
                                         T* __restrict__ sum_dy, T* __restrict__ sum_dy_xmu) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double a = 0, b = 0;
  for (int64_t j = 0; j < splits; ++j) {
    a += partial[(c * splits + j) * 2];
    b += partial[(c * splits + j) * 2 + 1];
  }
  sum_dy[c] = T(a);
  sum_dy_xmu[c] = T(b);
}

// Elementwise kernels: channel of element i is (i / S) % C, in 32-bit
// arithmetic when the tensor allows (a 64-bit division is many instructions).
template <class I>
__device__ __forceinline__ I channel_of(I i, I S, I C) {
  return (i / S) % C;
}

template <class T, class I>
__global__ void apply_kernel(I total, I C, I S, const T* x, const T* __restrict__ scale,
                             const T* __restrict__ shift, T* out) {  // out may be x
  for (I i = I(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += I(gridDim.x) * blockDim.x) {
    const I c = channel_of(i, S, C);
    out[i] = x[i] * scale[c] + shift[c];
  }
}

template <class T, class I>
__global__ void backward_apply_kernel(I total, I C, I S, const T* __restrict__ dy, const T* __restrict__ x,
                                      const T* __restrict__ mean, const T* __restrict__ ka,
                                      const T* __restrict__ kb, const T* __restrict__ kd, T* __restrict__ gi) {
  for (I i = I(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += I(gridDim.x) * blockDim.x) {
    const I c = channel_of(i, S, C);
    gi[i] = dy[i] * ka[c] + (x[i] - mean[c]) * kb[c] + kd[c];
  }
}

void check_norm_dtype(DType d, const char* what) {
  EMBER_CHECK(d == DType::Float32 || d == DType::Float64, TypeError, what,
              " on CUDA expects float32 or float64 (the op layer converts 16-bit inputs), got ", dtype_name(d));
}

template <class F>
void dispatch_norm(DType d, const char* what, F&& f) {
  check_norm_dtype(d, what);
  if (d == DType::Float32) f(Tag<float>{});
  else f(Tag<double>{});
}

struct NormShape {
  int64_t n, c, s, m, splits;
};
NormShape norm_shape(const Tensor& in) {
  NormShape g{in->shape[0], in->shape[1], in->shape[2], 0, 0};
  g.m = g.n * g.s;
  g.splits = ceil_div(g.m, kChunk);
  EMBER_CHECK(g.c * g.splits < (int64_t(1) << 31), Error, "batch norm on CUDA: too many channels x chunks (",
              g.c, " x ", g.splits, ")");
  return g;
}

}  // namespace

void batch_norm_stats_cuda(const Tensor& mean, const Tensor& var, const Tensor& in) {
  const NormShape g = norm_shape(in);
  if (g.c == 0 || g.m == 0) return;
  Workspace ws(size_t(g.c * g.splits * 3) * sizeof(double), in->device().index);
  dispatch_norm(in->dtype, "batch_norm_stats", [&](auto tag) {
    using T = typename decltype(tag)::type;
    stats_partial_kernel<T><<<static_cast<unsigned>(g.c * g.splits), kThreads, 0, stream()>>>(
        data_ptr<T>(in), g.c, g.s, g.m, g.splits, ws.as<double>());
    EMBER_CUDA_LAUNCH_CHECK("stats_partial_kernel");
    stats_finalize_kernel<T><<<static_cast<unsigned>(ceil_div(g.c, int64_t(kThreads))), kThreads, 0, stream()>>>(
        ws.as<double>(), g.c, g.splits, data_ptr<T>(mean), data_ptr<T>(var));
    EMBER_CUDA_LAUNCH_CHECK("stats_finalize_kernel");
  });
}

void batch_norm_apply_cuda(const Tensor& out, const Tensor& in, const Tensor& scale, const Tensor& shift) {
  const int64_t total = in->numel(), C = in->shape[1], S = in->shape[2];
  if (total == 0) return;
  dispatch_norm(in->dtype, "batch_norm_apply", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (total < (int64_t(1) << 31)) {
      apply_kernel<T, uint32_t><<<grid_for(total, 4), kThreads, 0, stream()>>>(
          uint32_t(total), uint32_t(C), uint32_t(S), data_ptr<T>(in), data_ptr<T>(scale), data_ptr<T>(shift),
          data_ptr<T>(out));
    } else {
      apply_kernel<T, int64_t><<<grid_for(total, 4), kThreads, 0, stream()>>>(
          total, C, S, data_ptr<T>(in), data_ptr<T>(scale), data_ptr<T>(shift), data_ptr<T>(out));
    }
    EMBER_CUDA_LAUNCH_CHECK("apply_kernel");
  });
}

void batch_norm_backward_reduce_cuda(const Tensor& sum_dy, const Tensor& sum_dy_xmu, const Tensor& grad_out,
                                     const Tensor& in, const Tensor& mean) {
  const NormShape g = norm_shape(in);
  if (g.c == 0) return;
  dispatch_norm(in->dtype, "batch_norm_backward_reduce", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (g.m == 0) {
      EMBER_CUDA_CHECK(cudaMemsetAsync(data_ptr<T>(sum_dy), 0, size_t(g.c) * sizeof(T), stream()));
      EMBER_CUDA_CHECK(cudaMemsetAsync(data_ptr<T>(sum_dy_xmu), 0, size_t(g.c) * sizeof(T), stream()));
      return;
    }
    Workspace ws(size_t(g.c * g.splits * 2) * sizeof(double), in->device().index);
    backward_partial_kernel<T><<<static_cast<unsigned>(g.c * g.splits), kThreads, 0, stream()>>>(
        data_ptr<T>(grad_out), data_ptr<T>(in), data_ptr<T>(mean), g.c, g.s, g.m, g.splits, ws.as<double>());
    EMBER_CUDA_LAUNCH_CHECK("backward_partial_kernel");
    backward_finalize_kernel<T><<<static_cast<unsigned>(ceil_div(g.c, int64_t(kThreads))), kThreads, 0,
                                  stream()>>>(ws.as<double>(), g.c, g.splits, data_ptr<T>(sum_dy),
                                              data_ptr<T>(sum_dy_xmu));
    EMBER_CUDA_LAUNCH_CHECK("backward_finalize_kernel");
  });
}

void batch_norm_backward_apply_cuda(const Tensor& grad_in, const Tensor& grad_out, const Tensor& in,
                                    const Tensor& mean, const Tensor& dy_scale, const Tensor& xmu_scale,
                                    const Tensor& shift) {
  const int64_t total = in->numel(), C = in->shape[1], S = in->shape[2];
  if (total == 0) return;
  dispatch_norm(in->dtype, "batch_norm_backward_apply", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (total < (int64_t(1) << 31)) {
      backward_apply_kernel<T, uint32_t><<<grid_for(total, 4), kThreads, 0, stream()>>>(
          uint32_t(total), uint32_t(C), uint32_t(S), data_ptr<T>(grad_out), data_ptr<T>(in), data_ptr<T>(mean),
          data_ptr<T>(dy_scale), data_ptr<T>(xmu_scale), data_ptr<T>(shift), data_ptr<T>(grad_in));
    } else {
      backward_apply_kernel<T, int64_t><<<grid_for(total, 4), kThreads, 0, stream()>>>(
          total, C, S, data_ptr<T>(grad_out), data_ptr<T>(in), data_ptr<T>(mean), data_ptr<T>(dy_scale),
          data_ptr<T>(xmu_scale), data_ptr<T>(shift), data_ptr<T>(grad_in));
    }
    EMBER_CUDA_LAUNCH_CHECK("backward_apply_kernel");
  });
}

}  // namespace cuda
}  // namespace ember
