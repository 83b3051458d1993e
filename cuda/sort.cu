// Sorting on CUDA: the stable row sort behind sort / argsort / topk /
// multinomial (topk takes the first k of a full sort), and searchsorted's
// binary search.
//
// The row sort is two stable radix sorts (CUB) over the whole tensor, not a
// segmented sort: first by key, carrying each element's flat position, then
// by row number (the position / n), which regroups the rows and keeps each
// row's key order. Two passes over every element whatever the row count,
// any size, and equal keys keep their order as the CPU's std::stable_sort.
// Keys are made radix-friendly first: every NaN becomes the positive quiet
// NaN (which radix order puts above +inf, where PyTorch ranks NaN) and -0.0
// becomes 0.0 (radix order would put it first; PyTorch treats them equal,
// and the stable sort then keeps their order). Values are then gathered
// from the input by position, so they keep their bits.
#include <cub/device/device_radix_sort.cuh>

#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace ember {
namespace cuda {

namespace {

template <class T>
struct RadixKey {
  using type = T;
};
template <>
struct RadixKey<bool> {
  using type = uint8_t;
};

template <class T>
__device__ __forceinline__ T canonical_key(T x) {
  if constexpr (std::is_same<T, float>::value) {
    if (x != x) return __int_as_float(0x7fc00000);
    if (x == 0.0f) return 0.0f;
  } else if constexpr (std::is_same<T, double>::value) {
    if (x != x) return __longlong_as_double(0x7ff8000000000000LL);
    if (x == 0.0) return 0.0;
  }
  return x;
}

template <class T, class K>
__global__ void make_keys_kernel(int64_t total, const T* __restrict__ in, K* __restrict__ keys,
                                 int64_t* __restrict__ pos) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    keys[i] = static_cast<K>(canonical_key(in[i]));
    pos[i] = i;
  }
}

template <class R>
__global__ void row_of_kernel(int64_t total, int64_t n, const int64_t* __restrict__ pos, R* __restrict__ rows) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step)
    rows[i] = static_cast<R>(pos[i] / n);
}

template <class T>
__global__ void gather_sorted_kernel(int64_t total, int64_t n, const int64_t* __restrict__ pos,
                                     const T* __restrict__ in, T* __restrict__ values, int64_t* __restrict__ indices) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const int64_t p = pos[i];
    values[i] = in[p];
    indices[i] = p % n;
  }
}

int bits_for(int64_t count) {  // bits that hold 0 .. count - 1
  int b = 1;
  while (b < 63 && (int64_t(1) << b) < count) ++b;
  return b;
}

// Stable radix sort of (keys, values) pairs; CUB sizes its own scratch.
template <class K, class V>
void radix_sort_pairs(const K* keys_in, K* keys_out, const V* vals_in, V* vals_out, int64_t n, bool descending,
                      int end_bit, int device) {
  size_t bytes = 0;
  if (descending) {
    EMBER_CUDA_CHECK(cub::DeviceRadixSort::SortPairsDescending(nullptr, bytes, keys_in, keys_out, vals_in, vals_out,
                                                               n, 0, end_bit, stream()));
  } else {
    EMBER_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys_in, keys_out, vals_in, vals_out, n, 0,
                                                     end_bit, stream()));
  }
  Workspace scratch(bytes > 0 ? bytes : 1, device);
  if (descending) {
    EMBER_CUDA_CHECK(cub::DeviceRadixSort::SortPairsDescending(scratch.ptr, bytes, keys_in, keys_out, vals_in,
                                                               vals_out, n, 0, end_bit, stream()));
  } else {
    EMBER_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(scratch.ptr, bytes, keys_in, keys_out, vals_in, vals_out, n, 0,
                                                     end_bit, stream()));
  }
}

template <class T>
void sort_typed(const Tensor& values, const Tensor& indices, const Tensor& in, bool descending) {
  using K = typename RadixKey<T>::type;
  const int64_t n = in->shape.back();
  const int64_t total = in->numel();
  const int64_t outer = total / n;
  const int device = in->device().index;
  Workspace keys(sizeof(K) * total, device), sorted_keys(sizeof(K) * total, device);
  Workspace pos(sizeof(int64_t) * total, device), by_key(sizeof(int64_t) * total, device);
  make_keys_kernel<T, K><<<grid_for(total), kThreads, 0, stream()>>>(total, data_ptr<T>(in), keys.as<K>(),
                                                                     pos.as<int64_t>());
  EMBER_CUDA_LAUNCH_CHECK("make_keys_kernel");
  radix_sort_pairs(keys.as<K>(), sorted_keys.as<K>(), pos.as<int64_t>(), by_key.as<int64_t>(), total, descending,
                   int(sizeof(K) * 8), device);
  const int64_t* order = by_key.as<int64_t>();
  if (outer > 1) {
    // Regroup by row; the stable pass keeps each row's key order.
    auto regroup = [&](auto row_word) {
      using R = decltype(row_word);
      Workspace rows(sizeof(R) * total, device), sorted_rows(sizeof(R) * total, device);
      row_of_kernel<R><<<grid_for(total), kThreads, 0, stream()>>>(total, n, order, rows.as<R>());
      EMBER_CUDA_LAUNCH_CHECK("row_of_kernel");
      radix_sort_pairs(rows.as<R>(), sorted_rows.as<R>(), order, pos.as<int64_t>(), total, false, bits_for(outer),
                       device);
    };
    if (outer <= (int64_t(1) << 32)) regroup(uint32_t{});
    else regroup(uint64_t{});
    order = pos.as<int64_t>();
  }
  gather_sorted_kernel<T><<<grid_for(total), kThreads, 0, stream()>>>(total, n, order, data_ptr<T>(in),
                                                                     data_ptr<T>(values), data_ptr<int64_t>(indices));
  EMBER_CUDA_LAUNCH_CHECK("gather_sorted_kernel");
}

// The CPU backend's order: NaN above every number.
template <class T>
__device__ __forceinline__ bool sorts_before(T a, T b) {
  if constexpr (std::is_floating_point<T>::value) return a < b || (b != b && a == a);
  else return a < b;
}

template <class T>
__global__ void searchsorted_kernel(int64_t total, int64_t n, int64_t m, const T* __restrict__ sorted,
                                    const T* __restrict__ values, int64_t* __restrict__ out, bool right) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < total; j += step) {
    const T* row = sorted + (j / m) * n;
    const T key = values[j];
    int64_t lo = 0, hi = n;  // first position whose element is > key (right) or >= key (left)
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      const bool go_right = right ? !sorts_before(key, row[mid]) : sorts_before(row[mid], key);
      if (go_right) lo = mid + 1;
      else hi = mid;
    }
    out[j] = lo;
  }
}

}  // namespace

void sort_cuda(const Tensor& values, const Tensor& indices, const Tensor& in, bool descending) {
  if (in->numel() == 0) return;
  dispatch_all(in->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (IsHalfLike<T>::value) {
      throw TypeError("sort on CUDA takes 16-bit floats as float32 (the op layer converts them)");
    } else {
      sort_typed<T>(values, indices, in, descending);
    }
  });
}

// A full stable sort, then the first k of each row: the same k, in the same
// order, as the CPU's partial sort (which breaks ties by index).
void topk_cuda(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, bool largest) {
  if (values->numel() == 0) return;
  const int64_t n = in->shape.back(), outer = in->numel() / n;
  Tensor all_values = make_empty(in->shape, in->dtype, in->device());
  Tensor all_indices = make_empty(in->shape, DType::Int64, in->device());
  sort_cuda(all_values, all_indices, in, largest);
  copy_cuda(values, make_view(all_values, {outer, k}, {n, 1}, 0));
  copy_cuda(indices, make_view(all_indices, {outer, k}, {n, 1}, 0));
}

void searchsorted_cuda(const Tensor& out, const Tensor& sorted, const Tensor& values, bool right) {
  const int64_t total = values->numel();
  if (total == 0) return;
  const int64_t n = sorted->shape.back(), m = values->shape.back();
  dispatch_all(values->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (IsHalfLike<T>::value || std::is_same<T, bool>::value) {
      throw TypeError(str("searchsorted on CUDA is not implemented for ", dtype_name(values->dtype)));
    } else {
      searchsorted_kernel<T><<<grid_for(total), kThreads, 0, stream()>>>(
          total, n, m, data_ptr<T>(sorted), data_ptr<T>(values), data_ptr<int64_t>(out), right);
      EMBER_CUDA_LAUNCH_CHECK("searchsorted_kernel");
    }
  });
}

}  // namespace cuda
}  // namespace ember
