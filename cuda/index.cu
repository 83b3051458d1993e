// Indexing by element offsets (take / put, the kernels behind gather,
// index_select, boolean masks and index assignment) and nonzero.
//
// put with accumulate uses atomics so repeated offsets add up: native
// atomicAdd for float, double, int32, int64, half and bfloat16; a
// compare-and-swap on the enclosing 32-bit word for 8- and 16-bit integers.
#include "cuda/elementwise.cuh"
#include "cuda/kernels.h"

namespace ember {
namespace cuda {

template <class T>
struct TakeFn {
  const T* base;
  __device__ __forceinline__ T operator()(int64_t off) const { return base[off]; }
};

void take_cuda(const Tensor& out, const Tensor& src, const Tensor& offsets) {
  dispatch_all(out->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    elementwise<T>("take_kernel", TakeFn<T>{data_ptr<T>(src)}, out, arg<int64_t>(offsets));
  });
}

// Row gather: one element per thread, consecutive threads along a row, so
// both the read of a source row and the write of the output coalesce. The
// element moves as an unsigned word of its size (no arithmetic).
template <class W>
__global__ void take_rows_kernel(int64_t n, int64_t width, int64_t src_stride, const W* __restrict__ src,
                                 const int64_t* __restrict__ rows, W* __restrict__ out) {
  const int64_t total = n * width;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const int64_t r = i / width, c = i - r * width;
    out[i] = src[rows[r] * src_stride + c];
  }
}

void take_rows_cuda(const Tensor& out, const Tensor& src, const Tensor& rows) {
  const int64_t n = out->shape[0], width = out->shape[1];
  if (n * width == 0) return;
  auto launch = [&](auto word) {
    using W = decltype(word);
    take_rows_kernel<W><<<grid_for(n * width), kThreads, 0, stream()>>>(
        n, width, src->strides[0], reinterpret_cast<const W*>(src->data_bytes()), data_ptr<int64_t>(rows),
        reinterpret_cast<W*>(out->data_bytes()));
    EMBER_CUDA_LAUNCH_CHECK("take_rows_kernel");
  };
  switch (itemsize(src->dtype)) {
    case 1: return launch(uint8_t{});
    case 2: return launch(uint16_t{});
    case 4: return launch(uint32_t{});
    default: return launch(uint64_t{});
  }
}

template <class T>
__device__ __forceinline__ void atomic_add_cas(T* addr, T v) {
  static_assert(sizeof(T) <= 2, "for 8- and 16-bit types");
  const uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  unsigned int* word = reinterpret_cast<unsigned int*>(a & ~uintptr_t(3));
  const unsigned shift = static_cast<unsigned>(a & 3) * 8;
  const unsigned mask = (sizeof(T) == 1 ? 0xffu : 0xffffu) << shift;
  unsigned old = *word, assumed;
  do {
    assumed = old;
    unsigned bits = (assumed & mask) >> shift;
    T cur;
    memcpy(&cur, &bits, sizeof(T));
    T sum = narrow<T>(widen(cur) + widen(v));
    unsigned nb = 0;
    memcpy(&nb, &sum, sizeof(T));
    old = atomicCAS(word, assumed, (assumed & ~mask) | ((nb << shift) & mask));
  } while (assumed != old);
}

template <class T>
__device__ __forceinline__ void atomic_add(T* addr, T v) {
  if constexpr (std::is_same<T, int64_t>::value) {
    atomicAdd(reinterpret_cast<unsigned long long*>(addr), static_cast<unsigned long long>(v));
  } else if constexpr (std::is_same<T, float>::value || std::is_same<T, double>::value ||
                       std::is_same<T, int32_t>::value || std::is_same<T, half_t>::value) {
    atomicAdd(addr, v);
  } else if constexpr (std::is_same<T, bf16_t>::value) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    atomicAdd(addr, v);
#else
    atomic_add_cas(addr, v);
#endif
  } else {
    atomic_add_cas(addr, v);
  }
}

template <class T>
__global__ void put_kernel(Layout<2> L, T* __restrict__ base, const int64_t* __restrict__ offsets,
                           const T* __restrict__ values, bool accumulate) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < L.numel; i += stride) {
    int64_t off[2];
    L.offsets(i, off);
    T* p = base + offsets[off[0]];
    if (accumulate) atomic_add(p, values[off[1]]);
    else *p = values[off[1]];
  }
}

void put_cuda(const Tensor& dst, const Tensor& offsets, const Tensor& values, bool accumulate) {
  const Tensor* ts[2] = {&offsets, &values};
  Layout<2> L = layout_of<2>(offsets->shape, ts);
  if (L.numel == 0) return;
  dispatch_all(dst->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    put_kernel<T><<<grid_for(L.numel), kThreads, 0, stream()>>>(L, data_ptr<T>(dst), data_ptr<int64_t>(offsets),
                                                               data_ptr<T>(values), accumulate);
    EMBER_CUDA_LAUNCH_CHECK("put_kernel");
  });
}

// ---- nonzero: count per tile, scan the counts, scatter coordinates ----

constexpr int kItems = 4;                       // consecutive elements per thread
constexpr int kTile = kThreads * kItems;        // elements per block

struct NonzeroArgs {
  Layout<1> in;    // coalesced walk of the input
  int ndim;        // coordinates are in the input's own shape
  int64_t shape[kMaxDims];
  int64_t n;
};

// Exclusive scan of one int64 per thread across the block; returns the total.
__device__ int64_t block_exclusive_scan(int64_t v, int64_t* excl) {
  __shared__ int64_t warp_tot[kThreads / 32];
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
  int64_t x = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    int64_t y = __shfl_up_sync(0xffffffffu, x, o);
    if (lane >= o) x += y;
  }
  if (lane == 31) warp_tot[wid] = x;
  __syncthreads();
  int64_t before = 0, total = 0;
  for (int w = 0; w < kThreads / 32; ++w) {
    if (w < wid) before += warp_tot[w];
    total += warp_tot[w];
  }
  __syncthreads();
  *excl = before + x - v;
  return total;
}

template <class T>
__device__ __forceinline__ int thread_flags(const NonzeroArgs& p, const T* in, int64_t first, bool flags[kItems]) {
  int c = 0;
#pragma unroll
  for (int j = 0; j < kItems; ++j) {
    const int64_t i = first + j;
    flags[j] = i < p.n && widen(in[p.in.offset(i, 0)]) != compute_t<T>(0);
    c += flags[j];
  }
  return c;
}

template <class T>
__global__ void nonzero_count_kernel(NonzeroArgs p, const T* __restrict__ in, int64_t* __restrict__ counts) {
  bool flags[kItems];
  const int64_t first = int64_t(blockIdx.x) * kTile + int64_t(threadIdx.x) * kItems;
  int64_t excl;
  int64_t total = block_exclusive_scan(thread_flags(p, in, first, flags), &excl);
  if (threadIdx.x == 0) counts[blockIdx.x] = total;
}

// One block scans all tile counts in place (exclusive) and writes the total.
__global__ void scan_counts_kernel(int64_t* counts, int64_t nblocks, int64_t* total) {
  __shared__ int64_t carry;
  if (threadIdx.x == 0) carry = 0;
  __syncthreads();
  for (int64_t base = 0; base < nblocks; base += kThreads) {
    const int64_t i = base + threadIdx.x;
    const int64_t v = i < nblocks ? counts[i] : 0;
    int64_t excl;
    const int64_t chunk_total = block_exclusive_scan(v, &excl);
    if (i < nblocks) counts[i] = carry + excl;
    __syncthreads();
    if (threadIdx.x == 0) carry += chunk_total;
    __syncthreads();
  }
  if (threadIdx.x == 0) *total = carry;
}

template <class T>
__global__ void nonzero_scatter_kernel(NonzeroArgs p, const T* __restrict__ in, const int64_t* __restrict__ starts,
                                       int64_t* __restrict__ out) {
  bool flags[kItems];
  const int64_t first = int64_t(blockIdx.x) * kTile + int64_t(threadIdx.x) * kItems;
  int64_t pos;
  block_exclusive_scan(thread_flags(p, in, first, flags), &pos);
  pos += starts[blockIdx.x];
#pragma unroll
  for (int j = 0; j < kItems; ++j) {
    if (!flags[j]) continue;
    int64_t i = first + j;
    int64_t* row = out + pos * p.ndim;
    for (int d = p.ndim - 1; d >= 0; --d) {
      row[d] = i % p.shape[d];
      i /= p.shape[d];
    }
    ++pos;
  }
}

Tensor nonzero_cuda(const Tensor& in) {
  const int dev = in->device().index;
  const int ndim = static_cast<int>(in->ndim());
  EMBER_CHECK(ndim <= kMaxDims, Error, "nonzero on CUDA supports at most ", kMaxDims, " dims");
  NonzeroArgs p;
  const Tensor* ts[1] = {&in};
  p.in = layout_of<1>(in->shape, ts);
  p.ndim = ndim;
  for (int d = 0; d < ndim; ++d) p.shape[d] = in->shape[d];
  p.n = in->numel();
  if (p.n == 0) return make_empty({0, int64_t(ndim)}, DType::Int64, in->device());
  const int64_t nblocks = ceil_div(p.n, kTile);
  EMBER_CHECK(nblocks < (int64_t(1) << 31), Error, "nonzero on CUDA: input too large");
  Workspace counts(size_t(nblocks + 1) * sizeof(int64_t), dev);
  int64_t* pc = counts.as<int64_t>();
  int64_t count = 0;
  Tensor out;
  dispatch_all(in->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pi = data_ptr<T>(in);
    nonzero_count_kernel<T><<<static_cast<unsigned>(nblocks), kThreads, 0, stream()>>>(p, pi, pc);
    EMBER_CUDA_LAUNCH_CHECK("nonzero_count_kernel");
    scan_counts_kernel<<<1, kThreads, 0, stream()>>>(pc, nblocks, pc + nblocks);
    EMBER_CUDA_LAUNCH_CHECK("scan_counts_kernel");
    EMBER_CUDA_CHECK(cudaMemcpy(&count, pc + nblocks, sizeof(int64_t), cudaMemcpyDeviceToHost));
    out = make_empty({count, int64_t(ndim)}, DType::Int64, in->device());
    if (count > 0 && ndim > 0) {
      nonzero_scatter_kernel<T><<<static_cast<unsigned>(nblocks), kThreads, 0, stream()>>>(p, pi, pc,
                                                                                         data_ptr<int64_t>(out));
      EMBER_CUDA_LAUNCH_CHECK("nonzero_scatter_kernel");
    }
  });
  return out;
}

}  // namespace cuda
}  // namespace ember
