// Ordered scatter on CUDA (put_reduce, behind scatter_add and scatter's
// reductions; for bool, sum is `or` and prod `and`), deterministic by
// construction: the (offset, position) pairs are radix-sorted by offset
// (stably, so each offset's positions stay in index order), and the first
// thread of each run of equal offsets combines the run's values in that
// order into the destination. No floating-point atomics: the result has the
// CPU backend's bits (which combines in index order too) on every run. A
// run is combined serially by one thread, so a scatter of very many values
// into one element is slow, never wrong.
#include <cub/device/device_radix_sort.cuh>

#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace ember {
namespace cuda {

namespace {

template <class T>
__device__ __forceinline__ T combine(ReduceOp op, T acc, T v) {
  switch (op) {
    case ReduceOp::Sum: return T(acc + v);
    case ReduceOp::Prod: return T(acc * v);
    case ReduceOp::Max:
    case ReduceOp::Min:
      if (is_nan(acc)) return acc;
      if (is_nan(v)) return v;
      return op == ReduceOp::Max ? (v > acc ? v : acc) : (v < acc ? v : acc);
    default: return v;
  }
}

__global__ void iota_kernel(int64_t n, int64_t* __restrict__ out) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) out[i] = i;
}

template <class T>
__global__ void combine_runs_kernel(int64_t n, ReduceOp op, const int64_t* __restrict__ offsets,
                                    const int64_t* __restrict__ order, const T* __restrict__ values,
                                    T* __restrict__ base) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const int64_t off = offsets[i];
    if (i > 0 && offsets[i - 1] == off) continue;  // not the first of its run
    T acc = base[off];
    for (int64_t j = i; j < n && offsets[j] == off; ++j) acc = combine(op, acc, values[order[j]]);
    base[off] = acc;
  }
}

}  // namespace

void put_reduce_cuda(ReduceOp op, const Tensor& dst, const Tensor& offsets, const Tensor& values) {
  const int64_t n = offsets->numel();
  if (n == 0) return;
  const int device = dst->device().index;
  Workspace positions(sizeof(int64_t) * n, device), order(sizeof(int64_t) * n, device);
  Workspace sorted_offsets(sizeof(int64_t) * n, device);
  iota_kernel<<<grid_for(n), kThreads, 0, stream()>>>(n, positions.as<int64_t>());
  EMBER_CUDA_LAUNCH_CHECK("iota_kernel");
  const int64_t* keys = data_ptr<int64_t>(offsets);
  size_t bytes = 0;
  EMBER_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys, sorted_offsets.as<int64_t>(),
                                                   positions.as<int64_t>(), order.as<int64_t>(), n, 0, 63,
                                                   stream()));
  Workspace scratch(bytes > 0 ? bytes : 1, device);
  // Offsets are validated non-negative, so 63 key bits suffice.
  EMBER_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(scratch.ptr, bytes, keys, sorted_offsets.as<int64_t>(),
                                                   positions.as<int64_t>(), order.as<int64_t>(), n, 0, 63,
                                                   stream()));
  dispatch_all(dst->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (IsHalfLike<T>::value) {
      throw TypeError(str("scatter reductions on CUDA are not implemented for ", dtype_name(dst->dtype)));
    } else {
      combine_runs_kernel<T><<<grid_for(n), kThreads, 0, stream()>>>(
          n, op, sorted_offsets.as<int64_t>(), order.as<int64_t>(), data_ptr<T>(values), data_ptr<T>(dst));
      EMBER_CUDA_LAUNCH_CHECK("combine_runs_kernel");
    }
  });
}

}  // namespace cuda
}  // namespace ember
