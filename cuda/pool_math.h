// Window arithmetic of the CUDA pooling kernels (cuda/pool.cu), in plain
// C++ so that g++ tests check it against naive loops without a GPU. The
// geometry is Pool2dParams' (csrc/backend.h): fixed windows with stride,
// padding and dilation, or adaptive windows [floor(o*I/O), ceil((o+1)*I/O)).
#pragma once
#include <cstdint>

#include "csrc/hd.h"

namespace ember {
namespace cuda {

// One output row's (or column's) window along one dim: positions
// first + i * step for first <= position < end, all inside the input.
// `padded_count` is the window's size counting padding (the
// count_include_pad divisor): positions up to `pad` past either edge count,
// those beyond (a ceil_mode window hanging further out) do not, as PyTorch.
struct PoolWindow {
  int64_t first = 0;
  int64_t end = 0;
  int64_t step = 1;
  int64_t padded_count = 0;
  EMBER_HD int64_t count() const { return end > first ? (end - first + step - 1) / step : 0; }
};

EMBER_HD int64_t floor_div_nonneg(int64_t a, int64_t b) { return a / b; }
EMBER_HD int64_t ceil_div_nonneg(int64_t a, int64_t b) { return (a + b - 1) / b; }

EMBER_HD PoolWindow adaptive_window(int64_t o, int64_t in_size, int64_t out_size) {
  PoolWindow w;
  w.first = floor_div_nonneg(o * in_size, out_size);
  w.end = ceil_div_nonneg((o + 1) * in_size, out_size);
  w.step = 1;
  w.padded_count = w.end - w.first;
  return w;
}

EMBER_HD PoolWindow fixed_window(int64_t o, int64_t in_size, int64_t kernel, int64_t stride, int64_t pad,
                                 int64_t dilation) {
  PoolWindow w;
  w.step = dilation;
  const int64_t start = o * stride - pad;
  const int64_t stop = start + (kernel - 1) * dilation + 1;  // one past the last tap
  // Taps inside [-pad, in_size + pad): the count_include_pad divisor.
  int64_t lo = start, hi = stop < in_size + pad ? stop : in_size + pad;
  w.padded_count = hi > lo ? (hi - lo + dilation - 1) / dilation : 0;
  // The first tap inside the input, and one past the last.
  int64_t first = start;
  if (first < 0) first += ceil_div_nonneg(-first, dilation) * dilation;
  w.first = first;
  w.end = stop < in_size ? stop : in_size;
  return w;
}

// The range [lo, hi] of adaptive outputs whose window holds input position
// `in_pos` (contiguous: the windows' starts and ends both grow with o):
// start(o) <= in_pos  iff  o <= ceil((in_pos + 1) * O / I) - 1, and
// end(o) > in_pos     iff  o >= floor(in_pos * O / I).
EMBER_HD void adaptive_covering(int64_t in_pos, int64_t in_size, int64_t out_size, int64_t* lo, int64_t* hi) {
  *lo = floor_div_nonneg(in_pos * out_size, in_size);
  *hi = ceil_div_nonneg((in_pos + 1) * out_size, in_size) - 1;
  if (*hi > out_size - 1) *hi = out_size - 1;
}

// The output (along one dim) whose fixed window reads input position
// `in_pos` with tap `k`, or -1: o * stride - pad + k * dilation == in_pos.
EMBER_HD int64_t pool_source_out(int64_t in_pos, int64_t k, int64_t stride, int64_t pad, int64_t dilation,
                                 int64_t out_size) {
  const int64_t num = in_pos + pad - k * dilation;
  if (num < 0 || num % stride != 0) return -1;
  const int64_t o = num / stride;
  return o < out_size ? o : -1;
}

// Max pooling's choice, as PyTorch's kernels make it: a value replaces the
// running maximum when it is larger or NaN. Scanning the window in order
// from -inf with the first position as the index, the first maximum wins
// among equals, a NaN beats every number (the last NaN of the window, as
// PyTorch), and a window of -inf answers its first position.
template <class T>
EMBER_HD bool pool_max_takes(T v, T best) {
  return v > best || v != v;
}

// The divisor of an average over a window of rows x cols (valid taps), as
// PyTorch: divisor_override when given, else the padded count with
// count_include_pad, else the valid taps.
EMBER_HD int64_t avg_divisor(const PoolWindow& rows, const PoolWindow& cols, bool count_include_pad,
                             int64_t divisor_override) {
  if (divisor_override != 0) return divisor_override;
  if (count_include_pad) return rows.padded_count * cols.padded_count;
  return rows.count() * cols.count();
}

}  // namespace cuda
}  // namespace ember
