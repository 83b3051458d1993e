// 2-D convolution on the CPU through ember's packed GEMM (gemm.h).
//
//   forward          out_g      = W_g [Co/g, K] @ columns [K, images * Ho * Wo],
//                    by the path the shape suits (conv_forward): the
//                    implicit GEMM, where pack_columns hands the GEMM a block
//                    of the column (im2col) matrix at a time, read straight
//                    from the images, and the GEMM writes NCHW directly; or,
//                    for stride 1 and few output channels, the direct path,
//                    whose GEMM reads shifted rows of zero-padded images
//                    with no packing at all;
//   backward input   with stride 1 and an output about as large as the
//                    input, the same forward on grad_out with the weight
//                    flipped and transposed; otherwise cols = W_g^T @
//                    grad_out rows, and col2im adds them into grad_in;
//   backward weight  grad_W_g  += grad_out rows [Co/g, G * P] @ cols^T, the
//                    columns lowered by im2col into a per-thread buffer of
//                    about 256 KiB (half of L2), a few images side by side;
//                    with few output channels by gemm_rows.
// A 1x1 convolution with stride 1 and no padding reads the image itself as
// its column matrix.
//
// Threads: with at least as many images (or groups of images) as threads,
// each thread takes whole ones and runs single-threaded GEMMs (no barrier
// inside an image); with fewer, the GEMM itself splits. The GEMMs sum K in
// slices fixed by the sizes, and the weight gradient sums the batch in a
// fixed number of chunks decided by the batch size alone, each chunk in
// image order, then the chunks in chunk order, so no value depends on the
// thread count (ARCHITECTURE.md, "Threads").
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "../error.h"
#include "gemm.h"
#include "gemm_rows.h"
#include "kernels.h"
#include "parallel.h"

namespace ember::cpu {

namespace {

// Output channels per group below which the weight gradient's product
// (Cog x K outputs, each a sum over the batch's output positions) takes
// gemm_rows, which reads grad_out's rows and the columns as they lie,
// rather than the GEMM, which packs a transposed copy of all the columns
// for a few output tiles.
constexpr int64_t kMinChannelsForPackedWeightGrad = 32;

struct ConvGeometry {
  int64_t N, Ci, H, W, Co, kh, kw, Ho, Wo;
  int64_t sh, sw, ph, pw, dh, dw, groups;
  int64_t Cig, Cog, K, P;  // channels per group, K = Cig*kh*kw, P = Ho*Wo
  bool pointwise;           // 1x1, stride 1, no padding: cols = the image

  ConvGeometry(const Tensor& in, const Tensor& weight, const Tensor& out, const Conv2dParams& p)
      : ConvGeometry(in->shape[0], in->shape[1], in->shape[2], in->shape[3], weight->shape[0], weight->shape[2],
                     weight->shape[3], out->shape[2], out->shape[3], p) {}

  ConvGeometry(int64_t n, int64_t ci, int64_t h, int64_t w, int64_t co, int64_t kh_, int64_t kw_, int64_t ho,
               int64_t wo, const Conv2dParams& p)
      : N(n), Ci(ci), H(h), W(w), Co(co), kh(kh_), kw(kw_), Ho(ho), Wo(wo) {
    sh = p.stride[0], sw = p.stride[1], ph = p.padding[0], pw = p.padding[1];
    dh = p.dilation[0], dw = p.dilation[1], groups = p.groups;
    Cig = Ci / groups, Cog = Co / groups, K = Cig * kh * kw, P = Ho * Wo;
    pointwise = kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 && Ho == H && Wo == W;
  }
  int64_t macs() const { return N * Co * P * K; }

  // With stride 1, the input gradient is itself a convolution: of grad_out,
  // padded by dilation*(k-1) - padding, with the weight flipped in both
  // spatial axes and its two channel axes swapped (transposed_weight).
  // Only when that padding is not negative (padding <= dilation*(k-1)), and
  // only when the output is not much smaller than the input: that
  // convolution does H*W/(Ho*Wo) times the multiply-adds of the gradient
  // (the rest multiply the zero padding of grad_out): 1.07 for a padded
  // 3x3 layer on 56x56, 1.96 for LeNet's second layer (14x14 -> 10x10),
  // which measured no faster than col2im that way.
  bool input_grad_is_convolution() const {
    return sh == 1 && sw == 1 && ph <= dh * (kh - 1) && pw <= dw * (kw - 1) && H * W * 4 <= Ho * Wo * 5;
  }
  ConvGeometry input_grad_as_convolution() const {
    Conv2dParams q;
    q.padding[0] = dh * (kh - 1) - ph, q.padding[1] = dw * (kw - 1) - pw;
    q.dilation[0] = dh, q.dilation[1] = dw, q.groups = groups;
    return ConvGeometry(N, Co, Ho, Wo, Ci, kh, kw, H, W, q);
  }
};

// Below this many multiply-adds a convolution stays on one thread.
constexpr int64_t kConvParallelMacs = int64_t(1) << 18;

// Output columns [lo, hi) whose input column ow*sw - pw + j*dw lies in [0, W).
inline void valid_columns(const ConvGeometry& g, int64_t j, int64_t& lo, int64_t& hi) {
  int64_t off = j * g.dw - g.pw;  // iw = ow * sw + off
  lo = off >= 0 ? 0 : (-off + g.sw - 1) / g.sw;
  hi = g.W - off <= 0 ? 0 : (g.W - off + g.sw - 1) / g.sw;
  lo = std::min(lo, g.Wo), hi = std::min(std::max(hi, lo), g.Wo);
}

// n elements from src to dst, for the short runs that lowering copies (an
// output row: 10 floats in LeNet's second layer). Fixed-size pieces become
// a few vector moves, where a memcpy call per run was most of the time.
template <class T>
inline void copy_run(T* dst, const T* src, int64_t n) {
  auto* d = reinterpret_cast<unsigned char*>(dst);
  auto* s = reinterpret_cast<const unsigned char*>(src);
  size_t bytes = static_cast<size_t>(n) * sizeof(T);
  for (; bytes >= 32; bytes -= 32, d += 32, s += 32) std::memcpy(d, s, 32);
  if (bytes >= 16) std::memcpy(d, s, 16), d += 16, s += 16, bytes -= 16;
  if (bytes >= 8) std::memcpy(d, s, 8), d += 8, s += 8, bytes -= 8;
  if (bytes >= 4) std::memcpy(d, s, 4);
}

// cols[(c*kh + i)*kw + j][oh*Wo + ow] = img[c][oh*sh - ph + i*dh][ow*sw - pw + j*dw], 0 outside.
// Rows of cols are ld apart (ld >= P: several images side by side).
template <class T>
void im2col(const T* img, T* cols, int64_t ld, const ConvGeometry& g) {
  for (int64_t c = 0; c < g.Cig; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        T* row = cols + ((c * g.kh + i) * g.kw + j) * ld;
        int64_t lo, hi;
        valid_columns(g, j, lo, hi);
        const int64_t off = j * g.dw - g.pw;
        for (int64_t oh = 0; oh < g.Ho; ++oh) {
          T* dst = row + oh * g.Wo;
          const int64_t ih = oh * g.sh - g.ph + i * g.dh;
          if (ih < 0 || ih >= g.H || lo >= hi) {
            std::fill(dst, dst + g.Wo, T(0));
            continue;
          }
          const T* src = img + (c * g.H + ih) * g.W + off;
          std::fill(dst, dst + lo, T(0));
          if (g.sw == 1) {
            copy_run(dst + lo, src + lo, hi - lo);
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow * g.sw];
          }
          std::fill(dst + hi, dst + g.Wo, T(0));
        }
      }
}

// The adjoint of im2col: img (zeroed by the caller) += each column entry at its position.
template <class T>
void col2im(const T* cols, int64_t ld, T* img, const ConvGeometry& g) {
  for (int64_t c = 0; c < g.Cig; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const T* row = cols + ((c * g.kh + i) * g.kw + j) * ld;
        int64_t lo, hi;
        valid_columns(g, j, lo, hi);
        const int64_t off = j * g.dw - g.pw;
        for (int64_t oh = 0; oh < g.Ho; ++oh) {
          const int64_t ih = oh * g.sh - g.ph + i * g.dh;
          if (ih < 0 || ih >= g.H) continue;
          const T* src = row + oh * g.Wo;
          T* dst = img + (c * g.H + ih) * g.W + off;
          if (g.sw == 1) {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow] += src[ow];
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow * g.sw] += src[ow];
          }
        }
      }
}

inline void gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsa, int64_t csa, const float* B,
                 int64_t rsb, int64_t csb, float* C, int64_t rsc, bool acc) {
  gemm_f32(M, N, K, A, rsa, csa, B, rsb, csb, C, rsc, 1, acc);
}
inline void gemm(int64_t M, int64_t N, int64_t K, const double* A, int64_t rsa, int64_t csa, const double* B,
                 int64_t rsb, int64_t csb, double* C, int64_t rsc, bool acc) {
  gemm_f64(M, N, K, A, rsa, csa, B, rsb, csb, C, rsc, 1, acc);
}

inline void gemm_rows(int64_t M, int64_t N, int64_t L, const float* A, int64_t lda, const float* B, int64_t ldb,
                      float* C, int64_t ldc, bool acc) {
  gemm_rows_f32(M, N, L, A, lda, B, ldb, C, ldc, acc);
}
inline void gemm_rows(int64_t M, int64_t N, int64_t L, const double* A, int64_t lda, const double* B, int64_t ldb,
                      double* C, int64_t ldc, bool acc) {
  gemm_rows_f64(M, N, L, A, lda, B, ldb, C, ldc, acc);
}

// Runs body(n, scratch) for every image n in [0, count): whole images per
// thread when there are enough of them, else in order on this thread (the
// GEMMs inside then use the threads). `scratch` is a per-thread buffer of
// scratch_elems elements.
template <class T, class Body>
void for_each_image(int64_t count, int64_t macs, int64_t scratch_elems, Body&& body) {
  const int threads = macs >= kConvParallelMacs && !omp_in_parallel() ? thread_budget() : 1;
  if (threads > 1 && count >= threads) {
#pragma omp parallel num_threads(threads)
    {
      std::vector<T> scratch(static_cast<size_t>(scratch_elems));
#pragma omp for schedule(static)
      for (int64_t n = 0; n < count; ++n) body(n, scratch.data());
    }
    return;
  }
  std::vector<T> scratch(static_cast<size_t>(scratch_elems));
  for (int64_t n = 0; n < count; ++n) body(n, scratch.data());
}

// Images lowered side by side into one column matrix [K, G * P], so that
// the few-channel layers (LeNet's 5x5 layers: K = 25 or 150, P = 784 or
// 100) run one GEMM with a wide N instead of many narrow ones. G depends
// on the sizes only (about 256 KiB of columns, half of L2: 1 MiB measured slower for LeNet's second layer), so sums keep a fixed order.
int64_t images_per_group(const ConvGeometry& g, size_t elem_size) {
  if (g.pointwise) return 1;
  constexpr int64_t kTargetColumnBytes = int64_t(1) << 18;
  const int64_t per_image = g.K * g.P * static_cast<int64_t>(elem_size);
  return std::max<int64_t>(1, std::min<int64_t>(g.N, kTargetColumnBytes / std::max<int64_t>(per_image, 1)));
}

// Per-thread scratch of a group: the column matrix and a [Cog, G*P] matrix
// (grad_out's rows side by side, or the forward's product before it is
// scattered into NCHW).
int64_t group_scratch(const ConvGeometry& g, int64_t G) {
  return G == 1 && g.pointwise ? 0 : (g.K + g.Cog) * G * g.P;
}

inline void gemm_implicit(int64_t M, int64_t N, int64_t K, const float* A, const ImplicitB<float>& B, float* C,
                          int64_t rsc, int64_t seg, int64_t seg_stride, const float* bias) {
  gemm_implicit_b_f32(M, N, K, A, K, 1, B, C, rsc, seg, seg_stride, false, bias);
}
inline void gemm_implicit(int64_t M, int64_t N, int64_t K, const double* A, const ImplicitB<double>& B, double* C,
                          int64_t rsc, int64_t seg, int64_t seg_stride, const double* bias) {
  gemm_implicit_b_f64(M, N, K, A, K, 1, B, C, rsc, seg, seg_stride, false, bias);
}

// The column matrix of `count` images side by side, never stored: the
// implicit GEMM asks for a block of it at a time (at most
// kImplicitBlockCols columns of a few K rows) and pack_columns reads it
// from the images, which stay in cache, instead of im2col writing the whole
// [K, P] matrix (7 MiB for one 64-channel 56x56 image) out to memory and the
// GEMM's packing reading it back.
template <class T>
struct ColumnSource {
  const T* x;            // image n0, the group's first channel
  int64_t image_stride;  // Ci * H * W
  const ConvGeometry* g;
};

template <class T>
void pack_columns(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t ncols, T* dst, int64_t ldb) {
  const ColumnSource<T>& src = *static_cast<const ColumnSource<T>*>(ctx);
  const ConvGeometry& g = *src.g;
  // The block's columns as runs within one output row of one image.
  struct Run {
    const T* image;
    int64_t oh, ow0, len, at;
  };
  Run runs[kImplicitBlockCols];
  int nruns = 0;
  for (int64_t t = j0; t < j0 + ncols;) {
    const int64_t n = t / g.P, q = t % g.P, oh = q / g.Wo, ow = q % g.Wo;
    const int64_t len = std::min(g.Wo - ow, j0 + ncols - t);
    runs[nruns++] = {src.x + n * src.image_stride, oh, ow, len, t - j0};
    t += len;
  }
  const int64_t khw = g.kh * g.kw;
  int64_t c = k0 / khw, i = k0 % khw / g.kw, j = k0 % g.kw;
  for (int64_t p = 0; p < kc; ++p) {
    T* row = dst + p * ldb;
    int64_t lo, hi;  // output columns whose input column lies inside the image
    valid_columns(g, j, lo, hi);
    const int64_t off = j * g.dw - g.pw;
    for (int r = 0; r < nruns; ++r) {
      const Run& run = runs[r];
      T* d = row + run.at;
      const int64_t ih = run.oh * g.sh - g.ph + i * g.dh;
      const int64_t a = std::max(lo, run.ow0), b = std::min(hi, run.ow0 + run.len);
      if (ih < 0 || ih >= g.H || a >= b) {
        std::fill(d, d + run.len, T(0));
        continue;
      }
      const T* line = run.image + (c * g.H + ih) * g.W + off;  // line[ow * sw] is column ow
      std::fill(d, d + (a - run.ow0), T(0));
      if (g.sw == 1) {
        copy_run(d + (a - run.ow0), line + a, b - a);
      } else {
        for (int64_t ow = a; ow < b; ++ow) d[ow - run.ow0] = line[ow * g.sw];
      }
      std::fill(d + (b - run.ow0), d + run.len, T(0));
    }
    if (++j == g.kw) {
      j = 0;
      if (++i == g.kh) i = 0, ++c;
    }
  }
}

// out = conv(in, w) (+ bias) by the implicit GEMM: per image group and
// channel group, [Cog, K] @ columns [K, count * P] written straight into
// NCHW (the GEMM's segmented C: one segment per image).
template <class T>
void conv_implicit(const T* x, const T* w, const T* b, T* y, const ConvGeometry& g) {
  // Images per GEMM: enough for about 512 columns (LeNet's 10x10 outputs
  // would waste an eighth of every 16-column panel one image at a time);
  // fixed by the sizes, so sums keep one order.
  const int64_t G = std::max<int64_t>(1, std::min<int64_t>(g.N, (512 + g.P - 1) / std::max<int64_t>(g.P, 1)));
  const int64_t groups_of_images = (g.N + G - 1) / G;
  for_each_image<T>(groups_of_images, g.macs(), 0, [&](int64_t gi, T*) {
    const int64_t n0 = gi * G, count = std::min(G, g.N - n0);
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const ColumnSource<T> src{x + (n0 * g.Ci + grp * g.Cig) * g.H * g.W, g.Ci * g.H * g.W, &g};
      gemm_implicit(g.Cog, count * g.P, g.K, w + grp * g.Cog * g.K, ImplicitB<T>{pack_columns<T>, &src},
                    y + (n0 * g.Co + grp * g.Cog) * g.P, g.P, g.P, g.Co * g.P, b ? b + grp * g.Cog : nullptr);
    }
  });
}

inline void gemm_indexed(int64_t M, int64_t N, int64_t K, const float* A, const float* base, const int32_t* offs,
                         float* C, int64_t rsc) {
  gemm_indexed_b_f32(M, N, K, A, K, 1, base, offs, C, rsc);
}
inline void gemm_indexed(int64_t M, int64_t N, int64_t K, const double* A, const double* base, const int32_t* offs,
                         double* C, int64_t rsc) {
  gemm_indexed_b_f64(M, N, K, A, K, 1, base, offs, C, rsc);
}

// The direct path, for stride 1 and few output channels (LeNet's 1->6 and
// 6->16 layers), where every column element the implicit GEMM packs serves only a handful of
// rows and the packing, not the arithmetic, set the time. Each image is
// copied once into a zero-padded plane per channel (Hp x Wp); the output
// positions are numbered in that plane's own row layout, q = oh * Wp + ow,
// so that the column matrix's row k = (c, i, j) is the padded image itself
// from c * Hp * Wp + i * dh * Wp + j * dw on: gemm_indexed_b reads it where
// it lies and nothing is packed. The Wp - Wo columns past each output row
// are computed and dropped (LeNet: 32 computed for 28, 14 for 10).
struct DirectLayout {
  int64_t Hp, Wp, plane, cols, slack;
  explicit DirectLayout(const ConvGeometry& g)
      : Hp(g.H + 2 * g.ph), Wp(g.W + 2 * g.pw), plane(Hp * Wp), cols(g.Ho * Wp),
        // Reads run past the last plane: the last row's shifted window
        // ((kw-1)*dw) and the kernel's whole-vector loads.
        slack((g.kw - 1) * g.dw + gemm_indexed_b_overread()) {}
  int64_t image_elems(const ConvGeometry& g) const { return g.Cig * plane + slack; }
};

constexpr int64_t kMaxChannelsForDirect = 32;

bool direct_fits(const ConvGeometry& g) {
  if (g.sh != 1 || g.sw != 1 || g.Cog > kMaxChannelsForDirect) return false;
  const DirectLayout d(g);
  return d.image_elems(g) < (int64_t(1) << 31);  // offsets are int32
}

template <class T>
void conv_direct(const T* x, const T* w, const T* b, T* y, const ConvGeometry& g) {
  const DirectLayout d(g);
  std::vector<int32_t> offs(static_cast<size_t>(g.K));
  for (int64_t c = 0, k = 0; c < g.Cig; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) offs[k++] = static_cast<int32_t>(c * d.plane + i * g.dh * d.Wp + j * g.dw);
  const int64_t scratch = d.image_elems(g) + g.Cog * d.cols;
  for_each_image<T>(g.N, g.macs(), scratch, [&](int64_t n, T* buf) {
    T* padded = buf;
    T* product = buf + d.image_elems(g);
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* img = x + (n * g.Ci + grp * g.Cig) * g.H * g.W;
      std::fill(padded, padded + d.image_elems(g), T(0));
      for (int64_t c = 0; c < g.Cig; ++c)
        for (int64_t h = 0; h < g.H; ++h)
          copy_run(padded + c * d.plane + (h + g.ph) * d.Wp + g.pw, img + (c * g.H + h) * g.W, g.W);
      gemm_indexed(g.Cog, d.cols, g.K, w + grp * g.Cog * g.K, padded, offs.data(), product, d.cols);
      for (int64_t co = 0; co < g.Cog; ++co) {
        const T bias = b ? b[grp * g.Cog + co] : T(0);
        T* dst = y + (n * g.Co + grp * g.Cog + co) * g.P;
        const T* src = product + co * d.cols;
        for (int64_t oh = 0; oh < g.Ho; ++oh)
          for (int64_t ow = 0; ow < g.Wo; ++ow) dst[oh * g.Wo + ow] = src[oh * d.Wp + ow] + bias;
      }
    }
  });
}

// 1x1, stride 1, no padding: the image is the column matrix, the output the product.
template <class T>
void conv_pointwise(const T* x, const T* w, const T* b, T* y, const ConvGeometry& g) {
  for_each_image<T>(g.N, g.macs(), 0, [&](int64_t n, T*) {
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      T* dst = y + (n * g.Co + grp * g.Cog) * g.P;
      if (b)
        for (int64_t co = 0; co < g.Cog; ++co) std::fill(dst + co * g.P, dst + (co + 1) * g.P, b[grp * g.Cog + co]);
      gemm(g.Cog, g.P, g.K, w + grp * g.Cog * g.K, g.K, 1, x + (n * g.Ci + grp * g.Cig) * g.H * g.W, g.P, 1, dst,
           g.P, b != nullptr);
    }
  });
}

// y = conv(x, w) (+ b), by the path that suits the shape.
template <class T>
void conv_forward(const T* x, const T* w, const T* b, T* y, const ConvGeometry& g) {
  if (g.pointwise) return conv_pointwise(x, w, b, y, g);
  if (direct_fits(g)) return conv_direct(x, w, b, y, g);
  conv_implicit(x, w, b, y, g);
}

template <class T>
void conv2d_typed(const Tensor& out, const Tensor& in, const Tensor& weight, const Tensor& bias,
                  const Conv2dParams& p) {
  const ConvGeometry g(in, weight, out, p);
  conv_forward(in->data<T>(), weight->data<T>(), bias ? bias->data<T>() : nullptr, out->data<T>(), g);
}

// grad_out[n0 .. n0+count, grp's channels] side by side: [Cog, count * P].
template <class T>
void gather_grad_rows(const T* gy, T* dst, int64_t n0, int64_t count, int64_t grp, const ConvGeometry& g) {
  const int64_t ld = count * g.P;
  for (int64_t i = 0; i < count; ++i)
    for (int64_t co = 0; co < g.Cog; ++co)
      std::memcpy(dst + co * ld + i * g.P, gy + ((n0 + i) * g.Co + grp * g.Cog + co) * g.P, sizeof(T) * g.P);
}

// The weight of the input gradient's convolution (ConvGeometry::
// input_grad_as_convolution): per group, [Cig, Cog, kh, kw] with
// element (ci, co, i, j) = w[grp * Cog + co][ci][kh-1-i][kw-1-j].
template <class T>
std::vector<T> transposed_weight(const T* w, const ConvGeometry& g) {
  std::vector<T> t(static_cast<size_t>(g.Co * g.K));
  const int64_t khw = g.kh * g.kw;
  for (int64_t grp = 0; grp < g.groups; ++grp)
    for (int64_t co = 0; co < g.Cog; ++co)
      for (int64_t ci = 0; ci < g.Cig; ++ci) {
        const T* src = w + ((grp * g.Cog + co) * g.Cig + ci) * khw;
        T* dst = t.data() + ((grp * g.Cig + ci) * g.Cog + co) * khw;
        for (int64_t e = 0; e < khw; ++e) dst[e] = src[khw - 1 - e];
      }
  return t;
}

template <class T>
void conv2d_backward_input_typed(const Tensor& grad_in, const Tensor& grad_out, const Tensor& weight,
                                 const Conv2dParams& p) {
  const ConvGeometry g(grad_in, weight, grad_out, p);
  const T* gy = grad_out->data<T>();
  const T* w = weight->data<T>();
  T* gx = grad_in->data<T>();
  if (!g.pointwise && g.input_grad_is_convolution()) {
    const std::vector<T> wt = transposed_weight(w, g);
    return conv_forward(gy, wt.data(), static_cast<const T*>(nullptr), gx, g.input_grad_as_convolution());
  }
  const int64_t G = images_per_group(g, sizeof(T)), groups_of_images = (g.N + G - 1) / G;
  for_each_image<T>(groups_of_images, g.macs(), group_scratch(g, G), [&](int64_t gi, T* scratch) {
    const int64_t n0 = gi * G, count = std::min(G, g.N - n0), ld = count * g.P;
    T* cols = scratch;
    T* rows = scratch + g.K * G * g.P;
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* wg = w + grp * g.Cog * g.K;  // W_g^T: element (k, co) at co*K + k
      if (g.pointwise) {
        gemm(g.K, g.P, g.Cog, wg, 1, g.K, gy + (n0 * g.Co + grp * g.Cog) * g.P, g.P, 1,
             gx + (n0 * g.Ci + grp * g.Cig) * g.H * g.W, g.P, false);
        continue;
      }
      gather_grad_rows(gy, rows, n0, count, grp, g);
      gemm(g.K, ld, g.Cog, wg, 1, g.K, rows, ld, 1, cols, ld, false);
      for (int64_t i = 0; i < count; ++i) {
        T* img = gx + ((n0 + i) * g.Ci + grp * g.Cig) * g.H * g.W;
        std::fill(img, img + g.Cig * g.H * g.W, T(0));
        col2im(cols + i * g.P, ld, img, g);
      }
    }
  });
}

// The number of partial sums of the weight gradient: a function of the
// batch size only (see the file comment), enough to feed a few threads.
constexpr int64_t kWeightGradChunks = 8;

template <class T>
void conv2d_backward_weight_typed(const Tensor& grad_weight, const Tensor& grad_out, const Tensor& in,
                                  const Conv2dParams& p) {
  const ConvGeometry g(in, grad_weight, grad_out, p);
  const T* x = in->data<T>();
  const T* gy = grad_out->data<T>();
  T* gw = grad_weight->data<T>();
  const int64_t wsize = g.Co * g.K;
  if (g.N == 0) {
    std::fill(gw, gw + wsize, T(0));
    return;
  }
  const int64_t chunks = std::min(g.N, kWeightGradChunks);
  const int64_t G = images_per_group(g, sizeof(T));
  // Chunk 0 sums straight into grad_weight; the others into partials.
  std::vector<T> partials(static_cast<size_t>((chunks - 1) * wsize));
  auto chunk_sum = [&](int64_t c, T* scratch) {
    T* acc = c == 0 ? gw : partials.data() + (c - 1) * wsize;
    const int64_t begin = g.N * c / chunks, end = g.N * (c + 1) / chunks;
    T* cols = scratch;
    T* rows = scratch + g.K * G * g.P;
    for (int64_t n0 = begin; n0 < end; n0 += G) {
      const int64_t count = std::min(G, end - n0), ld = count * g.P;
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        T* accg = acc + grp * g.Cog * g.K;
        if (g.pointwise) {  // cols^T of the image itself: element (q, k) at k*P + q
          gemm(g.Cog, g.K, g.P, gy + (n0 * g.Co + grp * g.Cog) * g.P, g.P, 1,
               x + (n0 * g.Ci + grp * g.Cig) * g.H * g.W, 1, g.P, accg, g.K, n0 != begin);
          continue;
        }
        for (int64_t i = 0; i < count; ++i)
          im2col(x + ((n0 + i) * g.Ci + grp * g.Cig) * g.H * g.W, cols + i * g.P, ld, g);
        gather_grad_rows(gy, rows, n0, count, grp, g);
        if (g.Cog < kMinChannelsForPackedWeightGrad)
          gemm_rows(g.Cog, g.K, ld, rows, ld, cols, ld, accg, g.K, n0 != begin);
        else
          gemm(g.Cog, g.K, ld, rows, ld, 1, cols, 1, ld, accg, g.K, n0 != begin);
      }
    }
  };
  for_each_image<T>(chunks, g.macs(), group_scratch(g, G), chunk_sum);
  for (int64_t c = 1; c < chunks; ++c) {
    const T* part = partials.data() + (c - 1) * wsize;
    for (int64_t i = 0; i < wsize; ++i) gw[i] += part[i];
  }
}

void check_float(const Tensor& t, const char* what) {
  if (t->dtype != DType::Float32 && t->dtype != DType::Float64)
    throw Error(str(what, ": the CPU kernel takes float32 or float64, got ", dtype_name(t->dtype)));
}

}  // namespace

void conv2d(const Tensor& out, const Tensor& in, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  check_float(in, "conv2d");
  if (in->dtype == DType::Float32) return conv2d_typed<float>(out, in, weight, bias, p);
  conv2d_typed<double>(out, in, weight, bias, p);
}

void conv2d_backward_input(const Tensor& grad_in, const Tensor& grad_out, const Tensor& weight,
                           const Conv2dParams& p) {
  check_float(grad_out, "conv2d backward");
  if (grad_out->dtype == DType::Float32) return conv2d_backward_input_typed<float>(grad_in, grad_out, weight, p);
  conv2d_backward_input_typed<double>(grad_in, grad_out, weight, p);
}

void conv2d_backward_weight(const Tensor& grad_weight, const Tensor& grad_out, const Tensor& in,
                            const Conv2dParams& p) {
  check_float(grad_out, "conv2d backward");
  if (grad_out->dtype == DType::Float32) return conv2d_backward_weight_typed<float>(grad_weight, grad_out, in, p);
  conv2d_backward_weight_typed<double>(grad_weight, grad_out, in, p);
}

}  // namespace ember::cpu
