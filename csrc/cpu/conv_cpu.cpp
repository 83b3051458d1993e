// 2-D convolution on the CPU through ember's packed GEMM (gemm.h).
//
// Each image is lowered separately: im2col writes one image's (and one
// group's) column matrix [Ci/g * kh * kw, Ho * Wo] into a per-thread buffer
// that stays in L2 for D2L's layers, never the whole batch's. Then
//   forward          out[n, g]   = W_g [Co/g, K] @ cols                (bias preset, accumulate)
//   backward input   cols        = W_g^T @ grad_out[n, g], col2im adds them into grad_in[n, g]
//   backward weight  grad_W_g   += grad_out[n, g] [Co/g, P] @ cols^T
// A 1x1 convolution with stride 1 and no padding reads the image itself as
// its column matrix.
//
// Threads: with at least as many images as threads, each thread takes whole
// images and runs single-threaded GEMMs (no barrier inside an image); with
// fewer images the GEMM itself splits. The weight gradient sums the batch in
// a fixed number of chunks decided by the batch size alone, each chunk in
// image order, then the chunks in chunk order, so its value never depends
// on the thread count (ARCHITECTURE.md, "Threads").
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "../error.h"
#include "gemm.h"
#include "kernels.h"
#include "parallel.h"

namespace ember::cpu {

namespace {

struct ConvGeometry {
  int64_t N, Ci, H, W, Co, kh, kw, Ho, Wo;
  int64_t sh, sw, ph, pw, dh, dw, groups;
  int64_t Cig, Cog, K, P;  // channels per group, K = Cig*kh*kw, P = Ho*Wo
  bool pointwise;           // 1x1, stride 1, no padding: cols = the image

  ConvGeometry(const Tensor& in, const Tensor& weight, const Tensor& out, const Conv2dParams& p) {
    N = in->shape[0], Ci = in->shape[1], H = in->shape[2], W = in->shape[3];
    Co = weight->shape[0], kh = weight->shape[2], kw = weight->shape[3];
    Ho = out->shape[2], Wo = out->shape[3];
    sh = p.stride[0], sw = p.stride[1], ph = p.padding[0], pw = p.padding[1];
    dh = p.dilation[0], dw = p.dilation[1], groups = p.groups;
    Cig = Ci / groups, Cog = Co / groups, K = Cig * kh * kw, P = Ho * Wo;
    pointwise = kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 && Ho == H && Wo == W;
  }
  int64_t macs() const { return N * Co * P * K; }
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

// cols[(c*kh + i)*kw + j][oh*Wo + ow] = img[c][oh*sh - ph + i*dh][ow*sw - pw + j*dw], 0 outside.
template <class T>
void im2col(const T* img, T* cols, const ConvGeometry& g) {
  for (int64_t c = 0; c < g.Cig; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        T* row = cols + ((c * g.kh + i) * g.kw + j) * g.P;
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
            std::memcpy(dst + lo, src + lo, sizeof(T) * (hi - lo));
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow * g.sw];
          }
          std::fill(dst + hi, dst + g.Wo, T(0));
        }
      }
}

// The adjoint of im2col: img (zeroed by the caller) += each column entry at its position.
template <class T>
void col2im(const T* cols, T* img, const ConvGeometry& g) {
  for (int64_t c = 0; c < g.Cig; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const T* row = cols + ((c * g.kh + i) * g.kw + j) * g.P;
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

template <class T>
void conv2d_typed(const Tensor& out, const Tensor& in, const Tensor& weight, const Tensor& bias,
                  const Conv2dParams& p) {
  const ConvGeometry g(in, weight, out, p);
  const T* x = in->data<T>();
  const T* w = weight->data<T>();
  const T* b = bias ? bias->data<T>() : nullptr;
  T* y = out->data<T>();
  for_each_image<T>(g.N, g.macs(), g.pointwise ? 0 : g.K * g.P, [&](int64_t n, T* cols) {
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* img = x + (n * g.Ci + grp * g.Cig) * g.H * g.W;
      T* dst = y + (n * g.Co + grp * g.Cog) * g.P;
      if (b) {
        for (int64_t co = 0; co < g.Cog; ++co) std::fill(dst + co * g.P, dst + (co + 1) * g.P, b[grp * g.Cog + co]);
      }
      const T* B = img;
      if (!g.pointwise) {
        im2col(img, cols, g);
        B = cols;
      }
      gemm(g.Cog, g.P, g.K, w + grp * g.Cog * g.K, g.K, 1, B, g.P, 1, dst, g.P, b != nullptr);
    }
  });
}

template <class T>
void conv2d_backward_input_typed(const Tensor& grad_in, const Tensor& grad_out, const Tensor& weight,
                                 const Conv2dParams& p) {
  const ConvGeometry g(grad_in, weight, grad_out, p);
  const T* gy = grad_out->data<T>();
  const T* w = weight->data<T>();
  T* gx = grad_in->data<T>();
  for_each_image<T>(g.N, g.macs(), g.pointwise ? 0 : g.K * g.P, [&](int64_t n, T* cols) {
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* gyg = gy + (n * g.Co + grp * g.Cog) * g.P;
      const T* wg = w + grp * g.Cog * g.K;  // W_g^T: element (k, co) at co*K + k
      T* img = gx + (n * g.Ci + grp * g.Cig) * g.H * g.W;
      if (g.pointwise) {
        gemm(g.K, g.P, g.Cog, wg, 1, g.K, gyg, g.P, 1, img, g.P, false);
        continue;
      }
      gemm(g.K, g.P, g.Cog, wg, 1, g.K, gyg, g.P, 1, cols, g.P, false);
      std::fill(img, img + g.Cig * g.H * g.W, T(0));
      col2im(cols, img, g);
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
  // Chunk 0 sums straight into grad_weight; the others into partials.
  std::vector<T> partials(static_cast<size_t>((chunks - 1) * wsize));
  auto chunk_sum = [&](int64_t c, T* cols) {
    T* acc = c == 0 ? gw : partials.data() + (c - 1) * wsize;
    const int64_t begin = g.N * c / chunks, end = g.N * (c + 1) / chunks;
    for (int64_t n = begin; n < end; ++n)
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const T* img = x + (n * g.Ci + grp * g.Cig) * g.H * g.W;
        const T* B = img;  // cols^T: element (q, k) at k*P + q
        if (!g.pointwise) {
          im2col(img, cols, g);
          B = cols;
        }
        gemm(g.Cog, g.K, g.P, gy + (n * g.Co + grp * g.Cog) * g.P, g.P, 1, B, 1, g.P, acc + grp * g.Cog * g.K, g.K,
             n != begin);
      }
  };
  for_each_image<T>(chunks, g.macs(), g.pointwise ? 0 : g.K * g.P, chunk_sum);
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
