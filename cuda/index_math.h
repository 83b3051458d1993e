// Index arithmetic for strided tensors, shared by host code (which builds the
// layouts) and kernels (which turn a linear index into element offsets).
// Plain C++ so the host tests cover it without a GPU.
#pragma once
#include <cstdint>
#include <vector>

#include "csrc/hd.h"

namespace ember {
namespace cuda {

constexpr int kMaxDims = 16;

// N operands sharing one logical shape, each with its own strides (elements).
// Dimension 0 is the slowest; a linear index walks the shape row-major.
template <int N>
struct Layout {
  int ndim = 0;
  int64_t numel = 1;
  int64_t sizes[kMaxDims];
  int64_t strides[N][kMaxDims];

  // Element offset of linear index `i` for every operand.
  EMBER_HD void offsets(int64_t i, int64_t out[N]) const {
    for (int k = 0; k < N; ++k) out[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      int64_t s = sizes[d];
      int64_t q = i / s;
      int64_t r = i - q * s;
      i = q;
      for (int k = 0; k < N; ++k) out[k] += r * strides[k][d];
    }
  }
  EMBER_HD int64_t offset(int64_t i, int k) const {
    int64_t o = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      int64_t s = sizes[d];
      int64_t q = i / s;
      o += (i - q * s) * strides[k][d];
      i = q;
    }
    return o;
  }
  // True when every operand walks memory with unit stride (after coalescing).
  bool all_contiguous() const {
    if (ndim == 0) return true;
    if (ndim != 1) return false;
    for (int k = 0; k < N; ++k)
      if (strides[k][0] != 1) return false;
    return true;
  }
};

// Builds a layout, dropping size-1 dims and merging neighbours that every
// operand walks contiguously (stride[d] == stride[d+1] * size[d+1]). Returns
// false when more than kMaxDims dims remain (the caller reports the error).
template <int N>
bool make_layout(const std::vector<int64_t>& shape, const std::vector<int64_t>* const strides[N], Layout<N>* L) {
  L->ndim = 0;
  L->numel = 1;
  for (int64_t s : shape) L->numel *= s;
  if (L->numel == 0) return true;
  int64_t sz[64];
  int64_t st[N][64];
  int n = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (n >= 64) return false;
    sz[n] = shape[d];
    for (int k = 0; k < N; ++k) st[k][n] = (*strides[k])[d];
    ++n;
  }
  // Merge from the innermost dim outward.
  int m = 0;  // dims kept so far, stored in reverse order (innermost first)
  int64_t rsz[64];
  int64_t rst[N][64];
  for (int d = n - 1; d >= 0; --d) {
    bool merge = m > 0;
    for (int k = 0; k < N && merge; ++k) merge = st[k][d] == rst[k][m - 1] * rsz[m - 1];
    if (merge) {
      rsz[m - 1] *= sz[d];
    } else {
      rsz[m] = sz[d];
      for (int k = 0; k < N; ++k) rst[k][m] = st[k][d];
      ++m;
    }
  }
  if (m > kMaxDims) return false;
  L->ndim = m;
  for (int d = 0; d < m; ++d) {
    L->sizes[d] = rsz[m - 1 - d];
    for (int k = 0; k < N; ++k) L->strides[k][d] = rst[k][m - 1 - d];
  }
  return true;
}

// Ceil-division helper for launch sizes.
EMBER_HD int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace cuda
}  // namespace ember
