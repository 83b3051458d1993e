// Index arithmetic of the CUDA convolution kernels (cuda/conv.cu), in plain
// C++ so that g++ tests check it against naive loops without a GPU.
//
// The kernels run one implicit GEMM per primitive, and every operand element
// is found by splitting a flat GEMM index into (image, row, column) or
// (channel, kernel row, kernel column). Hardware integer division is slow
// (about twenty instructions); FastDivmod replaces it by a multiply-high and
// a shift with the divisor's magic number computed once on the host.
#pragma once
#include <cstdint>

#include "csrc/hd.h"

namespace ember {
namespace cuda {

// n / d and n % d for 0 <= n < 2^31 and 1 <= d < 2^31, by the round-up
// method: with s = ceil(log2 d) and m = floor(2^32 (2^s - d) / d) + 1,
// n / d == (mulhi(n, m) + n) >> s. (The sum is taken in 64 bits, so it may
// pass 2^32.)
struct FastDivmod {
  uint32_t divisor = 1;
  uint32_t multiplier = 0;
  uint32_t shift = 0;

  FastDivmod() = default;
  explicit FastDivmod(uint32_t d) : divisor(d) {
    uint32_t s = 0;
    while ((uint64_t(1) << s) < d) ++s;
    shift = s;
    multiplier = uint32_t(((uint64_t(1) << 32) * ((uint64_t(1) << s) - d)) / d + 1);
  }
  EMBER_HD uint32_t div(uint32_t n) const {
#if defined(__CUDA_ARCH__)
    const uint32_t hi = __umulhi(n, multiplier);
#else
    const uint32_t hi = uint32_t((uint64_t(n) * multiplier) >> 32);
#endif
    return uint32_t((uint64_t(hi) + n) >> shift);
  }
  // Quotient, and the remainder in *rem.
  EMBER_HD uint32_t divmod(uint32_t n, uint32_t* rem) const {
    const uint32_t q = div(n);
    *rem = n - q * divisor;
    return q;
  }
};

// One launch's geometry of the implicit-GEMM convolutions: a chunk of images
// and of groups, in 32-bit sizes (the host checks that they fit), with
// 64-bit offsets wherever sizes multiply.
//   Forward         M = Co/g, N = images*Ho*Wo, K = Ci/g*kh*kw
//   BackwardInput   M = Ci/g, N = images*H*W,   K = Co/g*kh*kw
//   BackwardWeight  M = Co/g, N = Ci/g*kh*kw,   K = images*Ho*Wo (in splits)
struct ConvShape {
  int N, Ci, H, W, Co, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw;
  int Cig, Cog;     // channels per group
  int group0;       // first group of this launch (gridDim.z covers the rest)
  int M, Ncols, K;  // the GEMM of one group
  int splits;       // BackwardWeight: partial results per group
  int64_t k_chunk;  // BackwardWeight: pixels per split
  int64_t slab;     // BackwardWeight: elements of one partial result
  FastDivmod khw, kw_div, out_hw, out_w, in_hw, in_w, stride_h, stride_w;
};

// The whole problem's shape (the launchers then narrow N, group0 and the
// GEMM); the sizes were checked against the 32-bit limits by the caller.
inline ConvShape make_conv_shape(int N, int Ci, int H, int W, int Co, int kh, int kw, int Ho, int Wo, int sh,
                                 int sw, int ph, int pw, int dh, int dw, int groups) {
  ConvShape s{};
  s.N = N, s.Ci = Ci, s.H = H, s.W = W, s.Co = Co, s.Ho = Ho, s.Wo = Wo, s.kh = kh, s.kw = kw;
  s.sh = sh, s.sw = sw, s.ph = ph, s.pw = pw, s.dh = dh, s.dw = dw;
  s.Cig = Ci / groups;
  s.Cog = Co / groups;
  auto at_least_1 = [](int64_t v) { return uint32_t(v < 1 ? 1 : v); };
  s.khw = FastDivmod(at_least_1(int64_t(kh) * kw));
  s.kw_div = FastDivmod(at_least_1(kw));
  s.out_hw = FastDivmod(at_least_1(int64_t(Ho) * Wo));
  s.out_w = FastDivmod(at_least_1(Wo));
  s.in_hw = FastDivmod(at_least_1(int64_t(H) * W));
  s.in_w = FastDivmod(at_least_1(W));
  s.stride_h = FastDivmod(at_least_1(sh));
  s.stride_w = FastDivmod(at_least_1(sw));
  s.splits = 1;
  return s;
}

// The gathers below are split in two: what depends on a thread's fixed GEMM
// column (computed once, before the K loop) and what depends on k. The host
// tests multiply the same gathers naively and compare with a direct
// convolution, so the kernels' index logic is checked without a GPU.

// A fixed column's part of a gather: a plane offset and a pixel position.
struct GatherColumn {
  int64_t base = 0;
  int h = 0, w = 0;
  bool ok = false;
};

// ---- Forward: B[k = (ci, tap), col = (image, oh, ow)] = input ----
EMBER_HD GatherColumn forward_column(const ConvShape& s, int g, int64_t col) {
  GatherColumn c;
  if (col >= int64_t(s.Ncols)) return c;
  uint32_t pix, w;
  const uint32_t img = s.out_hw.divmod(uint32_t(col), &pix);
  const uint32_t h = s.out_w.divmod(pix, &w);
  const int64_t HW = int64_t(s.H) * s.W;
  c.base = int64_t(img) * s.Ci * HW + int64_t(g) * s.Cig * HW;
  c.h = int(h) * s.sh - s.ph;  // the window's top-left corner in the input
  c.w = int(w) * s.sw - s.pw;
  c.ok = true;
  return c;
}
// The input element of (k, column), or -1 in the padding.
EMBER_HD int64_t forward_tap(const ConvShape& s, const GatherColumn& c, int64_t k) {
  if (!c.ok || k >= int64_t(s.K)) return -1;
  uint32_t r, b;
  const uint32_t ci = s.khw.divmod(uint32_t(k), &r);
  const uint32_t a = s.kw_div.divmod(r, &b);
  const int ih = c.h + int(a) * s.dh, iw = c.w + int(b) * s.dw;
  if (unsigned(ih) >= unsigned(s.H) || unsigned(iw) >= unsigned(s.W)) return -1;
  return c.base + int64_t(ci) * s.H * s.W + int64_t(ih) * s.W + iw;
}
// A[m, k] is weight[(group's first channel + m) * K + k]; the output element of (m, col):
EMBER_HD int64_t forward_out(const ConvShape& s, int g, int m, int64_t col) {
  uint32_t pix;
  const uint32_t img = s.out_hw.divmod(uint32_t(col), &pix);
  const int64_t HoWo = int64_t(s.Ho) * s.Wo;
  return int64_t(img) * s.Co * HoWo + (int64_t(g) * s.Cog + m) * HoWo + pix;
}

// ---- BackwardInput: B[k = (co, tap), col = (image, ih, iw)] = grad_out ----
EMBER_HD GatherColumn input_grad_column(const ConvShape& s, int g, int64_t col) {
  GatherColumn c;
  if (col >= int64_t(s.Ncols)) return c;
  uint32_t pix, w;
  const uint32_t img = s.in_hw.divmod(uint32_t(col), &pix);
  const uint32_t h = s.in_w.divmod(pix, &w);
  const int64_t HoWo = int64_t(s.Ho) * s.Wo;
  c.base = int64_t(img) * s.Co * HoWo + int64_t(g) * s.Cog * HoWo;
  c.h = int(h) + s.ph;  // the input pixel in padded coordinates
  c.w = int(w) + s.pw;
  c.ok = true;
  return c;
}
// The grad_out element that reads the column's input pixel through tap k,
// or -1 (conv_source_out's rule: none between strides or past the edge).
EMBER_HD int64_t input_grad_source(const ConvShape& s, const GatherColumn& c, int64_t k) {
  if (!c.ok || k >= int64_t(s.K)) return -1;
  uint32_t r, b;
  const uint32_t co = s.khw.divmod(uint32_t(k), &r);
  const uint32_t a = s.kw_div.divmod(r, &b);
  const int hn = c.h - int(a) * s.dh, wn = c.w - int(b) * s.dw;
  if (hn < 0 || wn < 0) return -1;
  uint32_t hr, wr;
  const uint32_t oh = s.stride_h.divmod(uint32_t(hn), &hr);
  const uint32_t ow = s.stride_w.divmod(uint32_t(wn), &wr);
  if ((hr | wr) != 0 || oh >= uint32_t(s.Ho) || ow >= uint32_t(s.Wo)) return -1;
  return c.base + int64_t(co) * s.Ho * s.Wo + int64_t(oh) * s.Wo + ow;
}
// A[m = ci, k = (co, tap)] is weight[weight_row(k) + m * kh * kw].
EMBER_HD int64_t input_grad_weight_row(const ConvShape& s, int g, int64_t k) {
  uint32_t r;
  const uint32_t co = s.khw.divmod(uint32_t(k), &r);
  return (int64_t(g) * s.Cog + co) * s.Cig * (s.kh * s.kw) + r;
}
EMBER_HD int64_t input_grad_out(const ConvShape& s, int g, int m, int64_t col) {
  uint32_t pix;
  const uint32_t img = s.in_hw.divmod(uint32_t(col), &pix);
  const int64_t HW = int64_t(s.H) * s.W;
  return int64_t(img) * s.Ci * HW + (int64_t(g) * s.Cig + m) * HW + pix;
}

// ---- BackwardWeight: A[m = co, k = (image, oh, ow)] = grad_out,
//      B[k, col = (ci, tap)] = input ----
struct WeightGradPixel {
  int64_t grad_out = 0;  // grad_out offset of (k, m = 0)
  int64_t in = 0;        // the group's input plane offset of the image
  int h = 0, w = 0;      // the window's top-left corner
};
EMBER_HD WeightGradPixel weight_grad_pixel(const ConvShape& s, int g, int64_t k) {
  WeightGradPixel p;
  uint32_t pix, w;
  const uint32_t img = s.out_hw.divmod(uint32_t(k), &pix);
  const uint32_t h = s.out_w.divmod(pix, &w);
  const int64_t HoWo = int64_t(s.Ho) * s.Wo, HW = int64_t(s.H) * s.W;
  p.grad_out = int64_t(img) * s.Co * HoWo + int64_t(g) * s.Cog * HoWo + pix;
  p.in = int64_t(img) * s.Ci * HW + int64_t(g) * s.Cig * HW;
  p.h = int(h) * s.sh - s.ph;
  p.w = int(w) * s.sw - s.pw;
  return p;
}
struct WeightGradTap {
  int64_t plane = -1;  // ci * H * W, or -1 past the last column
  int dh = 0, dw = 0;  // the tap's offset from the window's corner
};
EMBER_HD WeightGradTap weight_grad_tap(const ConvShape& s, int64_t col) {
  WeightGradTap t;
  if (col >= int64_t(s.Ncols)) return t;
  uint32_t r, b;
  const uint32_t ci = s.khw.divmod(uint32_t(col), &r);
  const uint32_t a = s.kw_div.divmod(r, &b);
  t.plane = int64_t(ci) * s.H * s.W;
  t.dh = int(a) * s.dh;
  t.dw = int(b) * s.dw;
  return t;
}
// The input element of (pixel, tap), or -1 in the padding.
EMBER_HD int64_t weight_grad_input(const ConvShape& s, const WeightGradPixel& p, const WeightGradTap& t) {
  if (t.plane < 0) return -1;
  const int ih = p.h + t.dh, iw = p.w + t.dw;
  if (unsigned(ih) >= unsigned(s.H) || unsigned(iw) >= unsigned(s.W)) return -1;
  return p.in + t.plane + int64_t(ih) * s.W + iw;
}
// Where (m, col) of split `split` goes: grad_weight itself with one split,
// else that split's slab of the partial results.
EMBER_HD int64_t weight_grad_out(const ConvShape& s, int g, int split, int m, int64_t col) {
  return int64_t(split) * s.slab + (int64_t(g) * s.Cog + m) * s.Ncols + col;
}

// Output extent of a convolution along one dim (PyTorch's formula); 0
// when the padded input is smaller than the dilated kernel.
EMBER_HD int64_t conv_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation) {
  const int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;  // C++ division truncates toward zero: say 0 explicitly
}

// Which output row (or column) reads input row `in_pos` through kernel row
// `k`: out * stride - pad + k * dilation == in_pos. Returns -1 when none
// does (the position falls between strides or outside [0, out_size)).
// This is the gather of the transposed convolution (backward-input).
EMBER_HD int64_t conv_source_out(int64_t in_pos, int64_t k, int64_t stride, int64_t pad, int64_t dilation,
                                 int64_t out_size) {
  const int64_t num = in_pos + pad - k * dilation;
  if (num < 0 || num % stride != 0) return -1;
  const int64_t o = num / stride;
  return o < out_size ? o : -1;
}

// The weight gradient sums over the N*Ho*Wo pixels of a batch. To fill the
// GPU when there are few output tiles, that reduction is cut into `splits`
// consecutive ranges of `chunk` pixels (the last may be shorter), each
// written as a partial result that a second kernel adds in split order.
// The cut depends on the sizes only (never the GPU model or the scheduling),
// so a given problem always sums in the same order. `tiles` is the number of
// output tiles of the GEMM (groups included); `step` the kernel's K tile.
struct ReductionSplit {
  int64_t splits = 1;
  int64_t chunk = 0;
};
constexpr int64_t kSplitTargetBlocks = 1024;  // enough blocks for any current GPU
constexpr int64_t kSplitMinChunk = 512;       // pixels per partial at least: the combine stays cheap
EMBER_HD ReductionSplit weight_grad_split(int64_t K, int64_t tiles, int64_t step) {
  ReductionSplit r;
  if (K <= 0) {
    r.chunk = step;
    return r;
  }
  int64_t want = tiles >= kSplitTargetBlocks ? 1 : (kSplitTargetBlocks + tiles - 1) / tiles;
  const int64_t most = (K + kSplitMinChunk - 1) / kSplitMinChunk;
  if (want > most) want = most;
  if (want < 1) want = 1;
  int64_t chunk = (K + want - 1) / want;
  chunk = (chunk + step - 1) / step * step;  // whole K tiles per split
  r.chunk = chunk;
  r.splits = (K + chunk - 1) / chunk;
  return r;
}

// Images per launch: the kernels index pixels of a launch in 32 bits (the
// FastDivmod range), so a batch whose N * H * W passes that is cut into
// launches of whole images.
constexpr int64_t kMaxPixelsPerLaunch = (int64_t(1) << 31) - (int64_t(1) << 20);  // headroom for a tile past the end
EMBER_HD int64_t images_per_launch(int64_t batch, int64_t pixels_per_image) {
  if (pixels_per_image <= 0) return batch > 0 ? batch : 1;
  int64_t n = kMaxPixelsPerLaunch / pixels_per_image;
  if (n < 1) n = 1;
  return n < batch ? n : batch;
}

}  // namespace cuda
}  // namespace ember
