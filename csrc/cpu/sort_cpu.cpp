// Sorting kernels of the CPU backend: a stable sort of each row of a
// contiguous [outer, n] tensor (behind sort and argsort), its first k by a
// partial sort (topk, multinomial without replacement) and a binary search of values in sorted rows
// (searchsorted, multinomial with replacement). Rows go to threads whole,
// so results never depend on the thread count.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>
#include <vector>

#include "dispatch.h"
#include "kernels.h"
#include "parallel.h"

namespace ember::cpu {

namespace {

// The order PyTorch sorts in: NaN above every number (and equal to NaN);
// -0.0 equals 0.0. A strict weak order, as std::stable_sort needs.
template <typename T>
bool sorts_before(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    return a < b || (std::isnan(b) && !std::isnan(a));
  } else {
    return a < b;
  }
}

// Rows per parallel chunk: about 32K elements of work each.
int64_t row_grain(int64_t n) { return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n, 1)); }

template <typename T>
void sort_rows(const Tensor& values, const Tensor& indices, const Tensor& in, bool descending) {
  const int64_t n = in->shape.back();
  const int64_t outer = n == 0 ? 0 : in->numel() / n;
  const T* x = in->data<T>();
  T* v = values->data<T>();
  int64_t* idx = indices->data<int64_t>();
  parallel_for(outer, row_grain(n), [&](int64_t begin, int64_t end) {
    std::vector<std::pair<T, int64_t>> row(static_cast<size_t>(n));
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * n;
      for (int64_t i = 0; i < n; ++i) row[static_cast<size_t>(i)] = {xr[i], i};
      if (descending) {
        std::stable_sort(row.begin(), row.end(), [](const auto& a, const auto& b) {
          return sorts_before(b.first, a.first);
        });
      } else {
        std::stable_sort(row.begin(), row.end(), [](const auto& a, const auto& b) {
          return sorts_before(a.first, b.first);
        });
      }
      for (int64_t i = 0; i < n; ++i) {
        v[r * n + i] = row[static_cast<size_t>(i)].first;
        idx[r * n + i] = row[static_cast<size_t>(i)].second;
      }
    }
  });
}

// The first k of each row's stable sort. Breaking ties by index makes the
// order total, so a partial sort (O(n log k)) gives exactly those k.
template <typename T>
void topk_rows(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, bool largest) {
  const int64_t n = in->shape.back();
  const int64_t outer = in->numel() / n;
  const T* x = in->data<T>();
  T* v = values->data<T>();
  int64_t* idx = indices->data<int64_t>();
  parallel_for(outer, row_grain(n), [&](int64_t begin, int64_t end) {
    std::vector<std::pair<T, int64_t>> row(static_cast<size_t>(n));
    auto before = [largest](const std::pair<T, int64_t>& a, const std::pair<T, int64_t>& b) {
      const bool a_first = largest ? sorts_before(b.first, a.first) : sorts_before(a.first, b.first);
      const bool b_first = largest ? sorts_before(a.first, b.first) : sorts_before(b.first, a.first);
      return a_first || (!b_first && a.second < b.second);
    };
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * n;
      for (int64_t i = 0; i < n; ++i) row[static_cast<size_t>(i)] = {xr[i], i};
      std::partial_sort(row.begin(), row.begin() + k, row.end(), before);
      for (int64_t i = 0; i < k; ++i) {
        v[r * k + i] = row[static_cast<size_t>(i)].first;
        idx[r * k + i] = row[static_cast<size_t>(i)].second;
      }
    }
  });
}

template <typename T>
void search_rows(const Tensor& out, const Tensor& sorted, const Tensor& values, bool right) {
  const int64_t n = sorted->shape.back(), m = values->shape.back();
  const int64_t outer = m == 0 ? 0 : values->numel() / m;
  const T* s = sorted->data<T>();
  const T* v = values->data<T>();
  int64_t* o = out->data<int64_t>();
  parallel_for(outer * m, kParallelGrain, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      const T* row = s + (j / m) * n;
      const T key = v[j];
      const T* hit = right ? std::upper_bound(row, row + n, key, sorts_before<T>)
                           : std::lower_bound(row, row + n, key, sorts_before<T>);
      o[j] = hit - row;
    }
  });
}

}  // namespace

void sort(const Tensor& values, const Tensor& indices, const Tensor& in, bool descending) {
  dispatch_dtype(in->dtype, "sort", [&](auto tag) { sort_rows<decltype(tag)>(values, indices, in, descending); });
}

void topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, bool largest) {
  dispatch_dtype(in->dtype, "topk", [&](auto tag) { topk_rows<decltype(tag)>(values, indices, in, k, largest); });
}

void searchsorted(const Tensor& out, const Tensor& sorted, const Tensor& values, bool right) {
  dispatch_dtype(values->dtype, "searchsorted", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      throw TypeError("searchsorted is not implemented for bool tensors");
    } else {
      search_rows<T>(out, sorted, values, right);
    }
  });
}

}  // namespace ember::cpu
