// Strided iteration shared by the CPU elementwise kernels: N same-shape
// operands (broadcast ones carry stride 0) are walked as runs along the
// innermost dimension after merging dimensions that are contiguous in every
// operand, so the common cases reach a flat loop the compiler vectorizes.
#pragma once
#include <array>
#include <cstdint>
#include <limits>
#include <vector>

#include "../tensor.h"
#include "parallel.h"

namespace ember::cpu {

template <int N>
struct StridedLayout {
  std::vector<int64_t> shape;                   // outermost first, coalesced
  std::vector<std::array<int64_t, N>> strides;  // bytes, per dim per operand
  std::array<char*, N> base;
  int64_t numel = 1;
};

template <int N>
StridedLayout<N> make_layout(const std::array<const TensorImpl*, N>& ops) {
  StridedLayout<N> L;
  const TensorImpl* out = ops[0];
  int64_t nd = out->ndim();
  for (int k = 0; k < N; ++k) L.base[k] = ops[k]->data_bytes();
  // Order dims so the output is walked in memory order (matters when the
  // output itself is a transposed view).
  std::vector<int64_t> order;
  for (int64_t d = 0; d < nd; ++d)
    if (out->shape[d] != 1) order.push_back(d);
  bool sorted = true;
  for (size_t i = 1; i < order.size(); ++i)
    if (out->strides[order[i - 1]] < out->strides[order[i]]) sorted = false;
  if (!sorted) {
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t x, int64_t y) { return out->strides[x] > out->strides[y]; });
  }
  for (int64_t d : order) {
    std::array<int64_t, N> s;
    for (int k = 0; k < N; ++k) s[k] = ops[k]->strides[d] * static_cast<int64_t>(itemsize(ops[k]->dtype));
    int64_t size = out->shape[d];
    L.numel *= size;
    if (!L.shape.empty()) {
      // Merge into the previous (outer) dim when it steps exactly over this one.
      bool mergeable = true;
      for (int k = 0; k < N; ++k) mergeable = mergeable && L.strides.back()[k] == s[k] * size;
      if (mergeable) {
        L.shape.back() *= size;
        L.strides.back() = s;
        continue;
      }
    }
    L.shape.push_back(size);
    L.strides.push_back(s);
  }
  if (out->numel() == 0) L.numel = 0;
  return L;
}

// Calls run(ptrs, strides, n) for every innermost run, covering all elements;
// splits the work across threads when there are at least `grain` elements
// (pass kMemoryBoundGrain for loops that only stream memory).
template <int N, typename Run>
void for_each_run(const StridedLayout<N>& L, Run&& run, int64_t grain) {
  if (L.numel == 0) return;
  int64_t nd = static_cast<int64_t>(L.shape.size());
  if (nd == 0) {
    std::array<int64_t, N> zero{};
    run(L.base, zero, int64_t(1));
    return;
  }
  int64_t inner = L.shape[nd - 1];
  const std::array<int64_t, N> inner_strides = L.strides[nd - 1];
  int64_t outer = L.numel / inner;
  if (outer == 1) {
    parallel_for(inner, grain, [&](int64_t begin, int64_t end) {
      std::array<char*, N> p;
      for (int k = 0; k < N; ++k) p[k] = L.base[k] + begin * inner_strides[k];
      run(p, inner_strides, end - begin);
    });
    return;
  }
  const int64_t no_split = std::numeric_limits<int64_t>::max();
  int64_t outer_grain = grain == no_split ? no_split : std::max<int64_t>(1, grain / std::max<int64_t>(inner, 1));
  parallel_for(outer, outer_grain, [&](int64_t begin, int64_t end) {
    // Decompose `begin` into a multi-index over the outer dims.
    std::vector<int64_t> idx(nd - 1, 0);
    int64_t rem = begin;
    for (int64_t d = nd - 2; d >= 0; --d) {
      idx[d] = rem % L.shape[d];
      rem /= L.shape[d];
    }
    std::array<char*, N> p;
    for (int k = 0; k < N; ++k) {
      p[k] = L.base[k];
      for (int64_t d = 0; d < nd - 1; ++d) p[k] += idx[d] * L.strides[d][k];
    }
    for (int64_t o = begin; o < end; ++o) {
      run(p, inner_strides, inner);
      // Advance the odometer.
      for (int64_t d = nd - 2; d >= 0; --d) {
        for (int k = 0; k < N; ++k) p[k] += L.strides[d][k];
        if (++idx[d] < L.shape[d]) break;
        for (int k = 0; k < N; ++k) p[k] -= L.strides[d][k] * L.shape[d];
        idx[d] = 0;
      }
    }
  });
}

template <int N, typename Run>
void for_each_run(const StridedLayout<N>& L, Run&& run, bool parallel = true) {
  for_each_run<N>(L, run, parallel ? kParallelGrain : std::numeric_limits<int64_t>::max());
}

template <int N, typename Run>
void for_each_run(const std::array<const TensorImpl*, N>& ops, Run&& run, int64_t grain = kParallelGrain) {
  for_each_run<N>(make_layout<N>(ops), run, grain);
}

}  // namespace ember::cpu
