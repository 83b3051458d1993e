// Reductions over any set of dims (sum, prod, max, min, any, all), argmax /
// argmin along the last dim, and cumsum.
//
// reduce: the kept dims and the reduced dims each become a coalesced layout.
// Two kernels share the work:
//   * block mode: one block per output, its threads striding over the
//     reduced elements (coalesced when the reduced dims are innermost);
//   * thread mode: one thread per output walking its reduced elements
//     (coalesced when the kept dims are innermost, e.g. sum over dim 0);
//     for the plain column case of 2- to 8-byte types, reduce_columns_vec
//     gives each thread the outputs of one 16-byte load instead.
// Both keep several loads in flight per thread (16-byte vectors where the
// data is aligned): the limit is memory bandwidth, not arithmetic.
// When there are too few outputs to fill the GPU, the reduced range is split
// over grid.y; partial results go to a workspace and a finalize kernel
// combines them (this is how a whole-tensor sum uses every SM).
#include <cuda/std/limits>

#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace ember {
namespace cuda {

// Accumulator: float for 16/32-bit floats, double for double, int64 for
// integers and bool.
template <class T>
struct AccT {
  using type = int64_t;
};
template <>
struct AccT<half_t> {
  using type = float;
};
template <>
struct AccT<bf16_t> {
  using type = float;
};
template <>
struct AccT<float> {
  using type = float;
};
template <>
struct AccT<double> {
  using type = double;
};
template <class T>
using acc_t = typename AccT<T>::type;

template <class A>
__device__ __forceinline__ A reduce_start(ReduceOp op) {
  if (op == ReduceOp::Max) {
    if constexpr (std::is_floating_point<A>::value) return -::cuda::std::numeric_limits<A>::infinity();
    else return ::cuda::std::numeric_limits<A>::lowest();
  }
  if (op == ReduceOp::Min) {
    if constexpr (std::is_floating_point<A>::value) return ::cuda::std::numeric_limits<A>::infinity();
    else return ::cuda::std::numeric_limits<A>::max();
  }
  return reduce_identity<A>(op);
}

template <class T, class A>
__device__ __forceinline__ A load_acc(const T* p) {
  return static_cast<A>(widen(*p));
}

template <class A>
__device__ __forceinline__ A warp_reduce(ReduceOp op, A v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = reduce_combine(op, v, __shfl_down_sync(0xffffffffu, v, o));
  return v;
}

// Result valid in thread 0. blockDim.x is a multiple of 32, at most 1024.
template <class A>
__device__ __forceinline__ A block_reduce(ReduceOp op, A v) {
  __shared__ A smem[32];
  v = warp_reduce(op, v);
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
  if (lane == 0) smem[wid] = v;
  __syncthreads();
  const int nwarps = blockDim.x >> 5;
  v = threadIdx.x < nwarps ? smem[threadIdx.x] : reduce_start<A>(op);
  if (wid == 0) v = warp_reduce(op, v);
  __syncthreads();
  return v;
}

struct ReduceArgs {
  Layout<2> outer;  // kept dims; strides[0] of out, strides[1] of in
  Layout<1> inner;  // reduced dims; strides of in
  int64_t num_out;
  int64_t R;
  int64_t chunk;       // reduced elements per split
  bool inner_contig;   // reduced dims walk memory with stride 1
};

// Sixteen bytes of T, for one vector load per thread.
template <class T>
struct alignas(16) Vec16 {
  T v[16 / sizeof(T)];
};

// Combines p[threadIdx.x], p[threadIdx.x + blockDim.x], ... into acc. The
// limit is memory bandwidth, so each thread keeps two 16-byte loads in flight
// per step when p is 16-byte aligned (always true for a whole contiguous
// tensor); the elements past the last full vector go one at a time.
template <class T, class A>
__device__ __forceinline__ A reduce_contiguous(ReduceOp op, const T* __restrict__ p, int64_t n, A acc) {
  constexpr int V = 16 / sizeof(T);
  int64_t scalar_from = 0;
  if (V > 1 && reinterpret_cast<uintptr_t>(p) % 16 == 0) {
    const Vec16<T>* pv = reinterpret_cast<const Vec16<T>*>(p);
    const int64_t nv = n / V, step = blockDim.x;
    A acc1 = reduce_start<A>(op);
    int64_t i = threadIdx.x;
    for (; i + step < nv; i += 2 * step) {
      const Vec16<T> x = pv[i], y = pv[i + step];
#pragma unroll
      for (int k = 0; k < V; ++k) {
        acc = reduce_combine(op, acc, static_cast<A>(widen(x.v[k])));
        acc1 = reduce_combine(op, acc1, static_cast<A>(widen(y.v[k])));
      }
    }
    if (i < nv) {
      const Vec16<T> x = pv[i];
#pragma unroll
      for (int k = 0; k < V; ++k) acc = reduce_combine(op, acc, static_cast<A>(widen(x.v[k])));
    }
    acc = reduce_combine(op, acc, acc1);
    scalar_from = nv * V;
  }
  for (int64_t r = scalar_from + threadIdx.x; r < n; r += blockDim.x) acc = reduce_combine(op, acc, load_acc<T, A>(p + r));
  return acc;
}

template <class T, class O, class A>
__global__ void reduce_block_kernel(ReduceOp op, ReduceArgs p, const T* __restrict__ in, O* __restrict__ out,
                                    A* __restrict__ partial) {
  const int64_t o = blockIdx.x;
  const int split = blockIdx.y;
  int64_t off[2];
  p.outer.offsets(o, off);
  const T* base = in + off[1];
  const int64_t r0 = split * p.chunk;
  const int64_t r1 = r0 + p.chunk < p.R ? r0 + p.chunk : p.R;
  A acc = reduce_start<A>(op);
  if (p.inner_contig) {
    acc = reduce_contiguous<T, A>(op, base + r0, r1 - r0, acc);
  } else {
    for (int64_t r = r0 + threadIdx.x; r < r1; r += blockDim.x)
      acc = reduce_combine(op, acc, load_acc<T, A>(base + p.inner.offset(r, 0)));
  }
  acc = block_reduce(op, acc);
  if (threadIdx.x == 0) {
    if (gridDim.y == 1) out[off[0]] = narrow<O>(acc);
    else partial[int64_t(split) * p.num_out + o] = acc;
  }
}

template <class T, class O, class A>
__global__ void reduce_thread_kernel(ReduceOp op, ReduceArgs p, const T* __restrict__ in, O* __restrict__ out,
                                     A* __restrict__ partial) {
  const int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (o >= p.num_out) return;
  const int split = blockIdx.y;
  int64_t off[2];
  p.outer.offsets(o, off);
  const T* base = in + off[1];
  const int64_t r0 = split * p.chunk;
  const int64_t r1 = r0 + p.chunk < p.R ? r0 + p.chunk : p.R;
  A acc = reduce_start<A>(op);
  if (p.inner.ndim == 1) {
    // One strided reduced dim (sum over dim 0 of a matrix): neighbouring
    // threads read neighbouring columns, and four independent partial
    // results keep four loads in flight per thread.
    const int64_t stride = p.inner.strides[0][0];
    const T* q = base + r0 * stride;
    A acc1 = acc, acc2 = acc, acc3 = acc;
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4, q += 4 * stride) {
      acc = reduce_combine(op, acc, load_acc<T, A>(q));
      acc1 = reduce_combine(op, acc1, load_acc<T, A>(q + stride));
      acc2 = reduce_combine(op, acc2, load_acc<T, A>(q + 2 * stride));
      acc3 = reduce_combine(op, acc3, load_acc<T, A>(q + 3 * stride));
    }
    for (; r < r1; ++r, q += stride) acc = reduce_combine(op, acc, load_acc<T, A>(q));
    acc = reduce_combine(op, reduce_combine(op, acc, acc1), reduce_combine(op, acc2, acc3));
  } else {
    for (int64_t r = r0; r < r1; ++r) acc = reduce_combine(op, acc, load_acc<T, A>(base + p.inner.offset(r, 0)));
  }
  if (gridDim.y == 1) out[off[0]] = narrow<O>(acc);
  else partial[int64_t(split) * p.num_out + o] = acc;
}

template <class O, class A>
__global__ void reduce_finalize_kernel(ReduceOp op, ReduceArgs p, int splits, const A* __restrict__ partial,
                                       O* __restrict__ out) {
  const int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (o >= p.num_out) return;
  A acc = partial[o];
  for (int s = 1; s < splits; ++s) acc = reduce_combine(op, acc, partial[int64_t(s) * p.num_out + o]);
  out[p.outer.offset(o, 0)] = narrow<O>(acc);
}

// Few outputs, many splits (a whole-tensor sum: one output, ~1000 partial
// results): a block per output combines its partials in parallel.
template <class O, class A>
__global__ void reduce_finalize_block_kernel(ReduceOp op, ReduceArgs p, int splits, const A* __restrict__ partial,
                                             O* __restrict__ out) {
  const int64_t o = blockIdx.x;
  A acc = reduce_start<A>(op);
  for (int s = threadIdx.x; s < splits; s += blockDim.x) acc = reduce_combine(op, acc, partial[int64_t(s) * p.num_out + o]);
  acc = block_reduce(op, acc);
  if (threadIdx.x == 0) out[p.outer.offset(o, 0)] = narrow<O>(acc);
}

// Thread mode for the common column reduction (one kept dim with unit input
// stride, one reduced dim whose stride keeps 16-byte alignment, e.g. sum over
// dim 0 of a matrix): each thread owns the 16 / sizeof(T) neighbouring
// outputs of one vector load and keeps four rows' loads in flight.
template <class T, class O, class A>
__global__ void reduce_columns_vec_kernel(ReduceOp op, ReduceArgs p, const T* __restrict__ in, O* __restrict__ out,
                                          A* __restrict__ partial) {
  constexpr int V = 16 / sizeof(T);
  constexpr int ROWS = 4;
  const int64_t o = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) * V;
  if (o >= p.num_out) return;
  const int split = blockIdx.y;
  const int64_t stride = p.inner.strides[0][0];
  const int64_t r0 = split * p.chunk;
  const int64_t r1 = r0 + p.chunk < p.R ? r0 + p.chunk : p.R;
  A acc[ROWS][V];
#pragma unroll
  for (int j = 0; j < ROWS; ++j)
#pragma unroll
    for (int k = 0; k < V; ++k) acc[j][k] = reduce_start<A>(op);
  const T* q = in + o + r0 * stride;
  int64_t r = r0;
  for (; r + ROWS <= r1; r += ROWS, q += ROWS * stride) {
    Vec16<T> x[ROWS];
#pragma unroll
    for (int j = 0; j < ROWS; ++j) x[j] = *reinterpret_cast<const Vec16<T>*>(q + j * stride);
#pragma unroll
    for (int j = 0; j < ROWS; ++j)
#pragma unroll
      for (int k = 0; k < V; ++k) acc[j][k] = reduce_combine(op, acc[j][k], static_cast<A>(widen(x[j].v[k])));
  }
  for (; r < r1; ++r, q += stride) {
    const Vec16<T> x = *reinterpret_cast<const Vec16<T>*>(q);
#pragma unroll
    for (int k = 0; k < V; ++k) acc[0][k] = reduce_combine(op, acc[0][k], static_cast<A>(widen(x.v[k])));
  }
#pragma unroll
  for (int k = 0; k < V; ++k) {
    const A v = reduce_combine(op, reduce_combine(op, acc[0][k], acc[1][k]), reduce_combine(op, acc[2][k], acc[3][k]));
    if (gridDim.y == 1) out[(o + k) * p.outer.strides[0][0]] = narrow<O>(v);
    else partial[int64_t(split) * p.num_out + o + k] = v;
  }
}

template <class T, class O, class A>
__global__ void reduce_empty_kernel(ReduceOp op, ReduceArgs p, O* out) {
  const int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (o < p.num_out) out[p.outer.offset(o, 0)] = narrow<O>(reduce_identity<A>(op));
}

template <class T, class O>
void reduce_typed(ReduceOp op, const Tensor& out, const Tensor& in) {
  using A = acc_t<T>;
  const int64_t nd = in->ndim();
  Shape kept_shape, red_shape, kept_out_strides, kept_in_strides, red_in_strides;
  for (int64_t d = 0; d < nd; ++d) {
    if (out->shape[d] == in->shape[d]) {
      kept_shape.push_back(in->shape[d]);
      kept_out_strides.push_back(out->strides[d]);
      kept_in_strides.push_back(in->strides[d]);
    } else {
      red_shape.push_back(in->shape[d]);
      red_in_strides.push_back(in->strides[d]);
    }
  }
  ReduceArgs p;
  const std::vector<int64_t>* ks[2] = {&kept_out_strides, &kept_in_strides};
  const std::vector<int64_t>* rs[1] = {&red_in_strides};
  EMBER_CHECK(make_layout<2>(kept_shape, ks, &p.outer) && make_layout<1>(red_shape, rs, &p.inner), Error,
              "reduce on CUDA: too many non-contiguous dims in ", shape_str(in->shape));
  p.num_out = p.outer.numel;
  p.R = p.inner.numel;
  if (p.num_out == 0) return;
  O* po = data_ptr<O>(out);
  if (p.R == 0) {
    reduce_empty_kernel<T, O, A><<<ceil_div(p.num_out, kThreads), kThreads, 0, stream()>>>(op, p, po);
    EMBER_CUDA_LAUNCH_CHECK("reduce_empty_kernel");
    return;
  }
  p.inner_contig = p.inner.ndim == 0 || (p.inner.ndim == 1 && p.inner.strides[0][0] == 1);
  const T* pi = data_ptr<T>(in);
  const int64_t target_blocks = int64_t(sm_count()) * 8;
  const bool block_mode = (p.inner_contig && p.R >= 64) || (p.num_out < 4 * int64_t(sm_count()) && p.R >= 1024);
  constexpr int V = 16 / sizeof(T);
  const bool columns_vec = !block_mode && sizeof(T) >= 2 && sizeof(T) <= 8 && p.outer.ndim == 1 &&
                           p.outer.strides[1][0] == 1 && p.inner.ndim == 1 && p.num_out % V == 0 &&
                           p.inner.strides[0][0] % V == 0 && reinterpret_cast<uintptr_t>(pi) % 16 == 0;
  const int64_t threads_x = columns_vec ? p.num_out / V : p.num_out;
  int64_t blocks_x = block_mode ? p.num_out : ceil_div(threads_x, kThreads);
  // Split the reduced range when the outputs alone do not fill the GPU, but
  // keep at least a few thousand elements per block.
  int64_t min_chunk = block_mode ? 4096 : columns_vec ? 32 : 256;
  int64_t splits = 1;
  if (blocks_x < target_blocks) {
    splits = target_blocks / blocks_x;
    int64_t max_splits = ceil_div(p.R, min_chunk);
    if (splits > max_splits) splits = max_splits;
    if (splits > 65535) splits = 65535;
    if (splits < 1) splits = 1;
  }
  // Chunks in multiples of 16 elements, so that every split of a contiguous
  // range starts on a 16-byte boundary and can use vector loads.
  p.chunk = ceil_div(ceil_div(p.R, splits), int64_t(16)) * 16;
  splits = ceil_div(p.R, p.chunk);
  std::unique_ptr<Workspace> ws;
  A* partial = nullptr;
  if (splits > 1) {
    ws = std::make_unique<Workspace>(size_t(splits * p.num_out) * sizeof(A), out->device().index);
    partial = ws->as<A>();
  }
  EMBER_CHECK(blocks_x < (int64_t(1) << 31), Error, "reduce on CUDA: too many outputs");
  dim3 grid(static_cast<unsigned>(blocks_x), static_cast<unsigned>(splits));
  if (block_mode) {
    reduce_block_kernel<T, O, A><<<grid, kThreads, 0, stream()>>>(op, p, pi, po, partial);
    EMBER_CUDA_LAUNCH_CHECK("reduce_block_kernel");
  } else if (columns_vec) {
    if constexpr (sizeof(T) >= 2 && sizeof(T) <= 8) {
      reduce_columns_vec_kernel<T, O, A><<<grid, kThreads, 0, stream()>>>(op, p, pi, po, partial);
      EMBER_CUDA_LAUNCH_CHECK("reduce_columns_vec_kernel");
    }
  } else {
    reduce_thread_kernel<T, O, A><<<grid, kThreads, 0, stream()>>>(op, p, pi, po, partial);
    EMBER_CUDA_LAUNCH_CHECK("reduce_thread_kernel");
  }
  if (splits > 1) {
    if (p.num_out < int64_t(sm_count()) && splits >= 64) {
      reduce_finalize_block_kernel<O, A><<<static_cast<unsigned>(p.num_out), kThreads, 0, stream()>>>(
          op, p, static_cast<int>(splits), partial, po);
      EMBER_CUDA_LAUNCH_CHECK("reduce_finalize_block_kernel");
    } else {
      reduce_finalize_kernel<O, A><<<ceil_div(p.num_out, kThreads), kThreads, 0, stream()>>>(
          op, p, static_cast<int>(splits), partial, po);
      EMBER_CUDA_LAUNCH_CHECK("reduce_finalize_kernel");
    }
  }
}

void reduce_cuda(ReduceOp op, const Tensor& out, const Tensor& in) {
  EMBER_CHECK(out->ndim() == in->ndim(), Error, "reduce on CUDA expects the keepdim layout, got ",
              shape_str(out->shape), " for input ", shape_str(in->shape));
  dispatch_all(in->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (out->dtype == DType::Bool && in->dtype != DType::Bool) reduce_typed<T, bool>(op, out, in);
    else reduce_typed<T, T>(op, out, in);
  });
}

// ---- argmax / argmin over the last dim of a contiguous [outer, n] ----

template <class A>
__device__ __forceinline__ ArgPair<A> warp_arg(bool is_max, ArgPair<A> v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    ArgPair<A> w{static_cast<A>(__shfl_down_sync(0xffffffffu, v.v, o)), __shfl_down_sync(0xffffffffu, v.i, o)};
    v = arg_combine(is_max, v, w);
  }
  return v;
}

// One warp per row (GROUP = 32) or one block per row (GROUP = blockDim.x).
template <class T, int GROUP>
__global__ void arg_reduce_kernel(bool is_max, int64_t outer, int64_t n, const T* __restrict__ in, Layout<2> outl,
                                  T* values, int64_t* indices) {
  using A = compute_t<T>;
  const int rows_per_block = blockDim.x / GROUP;
  const int64_t row = int64_t(blockIdx.x) * rows_per_block + threadIdx.x / GROUP;
  const int lane = threadIdx.x % GROUP;
  ArgPair<A> best{A(0), -1};
  if (row < outer) {
    const T* r = in + row * n;
    for (int64_t j = lane; j < n; j += GROUP) best = arg_combine(is_max, best, ArgPair<A>{widen(r[j]), j});
  }
  best = warp_arg(is_max, best);
  if constexpr (GROUP > 32) {
    __shared__ A sv[32];
    __shared__ int64_t si[32];
    const int wid = threadIdx.x >> 5;
    if ((threadIdx.x & 31) == 0) {
      sv[wid] = best.v;
      si[wid] = best.i;
    }
    __syncthreads();
    if (wid == 0) {
      best = threadIdx.x < (blockDim.x >> 5) ? ArgPair<A>{sv[threadIdx.x], si[threadIdx.x]} : ArgPair<A>{A(0), -1};
      best = warp_arg(is_max, best);
    }
  }
  if (lane == 0 && row < outer) {
    int64_t off[2];
    outl.offsets(row, off);
    values[off[0]] = in[row * n + best.i];
    indices[off[1]] = best.i;
  }
}

void arg_reduce_cuda(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& in) {
  const int64_t n = in->shape.empty() ? 1 : in->shape.back();
  const int64_t outer = n == 0 ? 0 : in->numel() / n;
  if (outer == 0) return;
  const Tensor* ts[2] = {&values, &indices};
  Layout<2> outl = layout_of<2>(values->shape, ts);
  EMBER_CHECK(outl.numel == outer, Error, "arg_reduce on CUDA: ", shape_str(values->shape),
              " outputs for an input of shape ", shape_str(in->shape));
  dispatch_all(in->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (n >= 1024) {
      arg_reduce_kernel<T, kThreads><<<static_cast<unsigned>(outer), kThreads, 0, stream()>>>(
          is_max, outer, n, data_ptr<T>(in), outl, data_ptr<T>(values), data_ptr<int64_t>(indices));
    } else {
      const int rows = kThreads / 32;
      arg_reduce_kernel<T, 32><<<static_cast<unsigned>(ceil_div(outer, rows)), kThreads, 0, stream()>>>(
          is_max, outer, n, data_ptr<T>(in), outl, data_ptr<T>(values), data_ptr<int64_t>(indices));
    }
    EMBER_CUDA_LAUNCH_CHECK("arg_reduce_kernel");
  });
}

// ---- cumsum: one thread per line along `dim`, accumulating in acc_t ----

template <class T>
__global__ void cumsum_kernel(Layout<2> lines, int64_t n, int64_t out_stride, int64_t in_stride,
                              T* __restrict__ out, const T* __restrict__ in) {
  using A = acc_t<T>;
  const int64_t l = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (l >= lines.numel) return;
  int64_t off[2];
  lines.offsets(l, off);
  A acc = A(0);
  for (int64_t j = 0; j < n; ++j) {
    acc += static_cast<A>(widen(in[off[1] + j * in_stride]));
    out[off[0] + j * out_stride] = narrow<T>(acc);
  }
}

void cumsum_cuda(const Tensor& out, const Tensor& in, int64_t dim) {
  if (in->numel() == 0) return;
  if (in->ndim() == 0) {
    copy_cuda(out, in);
    return;
  }
  Shape line_shape = in->shape;
  const int64_t n = line_shape[dim];
  line_shape[dim] = 1;
  const Tensor* ts[2] = {&out, &in};
  Layout<2> L = layout_of<2>(line_shape, ts);
  dispatch_all(in->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    cumsum_kernel<T><<<static_cast<unsigned>(ceil_div(L.numel, kThreads)), kThreads, 0, stream()>>>(
        L, n, out->strides[dim], in->strides[dim], data_ptr<T>(out), data_ptr<T>(in));
    EMBER_CUDA_LAUNCH_CHECK("cumsum_kernel");
  });
}

}  // namespace cuda
}  // namespace ember
