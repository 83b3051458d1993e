// Max, average and adaptive pooling over NCHW on the CPU, and their
// backward passes. Each (n, c) plane is independent: threads take whole
// planes, and a plane's backward scatters its outputs in output order on
// one thread, so overlapping windows sum in a fixed order (deterministic).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../error.h"
#include "kernels.h"
#include "parallel.h"

namespace ember::cpu {

namespace {

// The valid input positions of one output position along one dim:
// first, first + step, ... (count of them).
struct Span {
  int64_t first, step, count;
};

Span window_span(int64_t o, int64_t L, int64_t Lo, int dim, const Pool2dParams& p) {
  if (p.adaptive) {
    const int64_t begin = o * L / Lo, end = ((o + 1) * L + Lo - 1) / Lo;
    return {begin, 1, end - begin};
  }
  const int64_t start = o * p.stride[dim] - p.padding[dim], d = p.dilation[dim], k = p.kernel[dim];
  const int64_t i_lo = start >= 0 ? 0 : (-start + d - 1) / d;
  const int64_t i_hi = L - 1 - start < 0 ? 0 : std::min(k, (L - 1 - start) / d + 1);
  return {start + i_lo * d, d, std::max<int64_t>(0, i_hi - i_lo)};
}

// The divisor of an average window, PyTorch's rule: a fixed window counts
// the padding it covers (up to `padding` past the edge) when
// count_include_pad, otherwise only the input positions.
int64_t avg_divisor(int64_t oh, int64_t ow, const Span& sh, const Span& sw, int64_t H, int64_t W,
                    const Pool2dParams& p) {
  if (p.divisor_override) return p.divisor_override;
  if (p.adaptive || !p.count_include_pad) return sh.count * sw.count;
  auto padded = [&](int64_t o, int64_t L, int d) {
    const int64_t start = o * p.stride[d] - p.padding[d];
    return std::min(start + p.kernel[d], L + p.padding[d]) - start;
  };
  return padded(oh, H, 0) * padded(ow, W, 1);
}

// The spans of every output row and column, computed once per call.
struct Windows {
  std::vector<Span> rows, cols;
  Windows(int64_t H, int64_t W, int64_t Ho, int64_t Wo, const Pool2dParams& p) : rows(Ho), cols(Wo) {
    for (int64_t o = 0; o < Ho; ++o) rows[o] = window_span(o, H, Ho, 0, p);
    for (int64_t o = 0; o < Wo; ++o) cols[o] = window_span(o, W, Wo, 1, p);
  }
};

// Windows that tile the input exactly (kernel == stride, no padding or
// dilation, every window whole): LeNet's and VGG's 2x2 pools. Their average
// sums whole rows first (a vectorizable add) and then groups of columns.
bool tiles_exactly(const Pool2dParams& p, int64_t H, int64_t W, int64_t Ho, int64_t Wo) {
  return !p.adaptive && p.kernel[0] == p.stride[0] && p.kernel[1] == p.stride[1] && p.padding[0] == 0 &&
         p.padding[1] == 0 && p.dilation[0] == 1 && p.dilation[1] == 1 && Ho * p.kernel[0] <= H &&
         Wo * p.kernel[1] <= W;
}

struct Planes {
  int64_t count, H, W, Ho, Wo;
  Planes(const Tensor& in, const Tensor& out)
      : count(in->shape[0] * in->shape[1]), H(in->shape[2]), W(in->shape[3]), Ho(out->shape[2]), Wo(out->shape[3]) {}
  // Planes per thread chunk so that a chunk moves at least ~1 MB.
  int64_t grain() const { return std::max<int64_t>(1, kMemoryBoundGrain / std::max<int64_t>(1, H * W + Ho * Wo)); }
};

template <class T>
void max_pool_typed(const Tensor& out, const Tensor& indices, const Tensor& in, const Pool2dParams& p) {
  const Planes pl(in, out);
  const T* x = in->data<T>();
  T* y = out->data<T>();
  int64_t* idx = indices->data<int64_t>();
  const Windows win(pl.H, pl.W, pl.Ho, pl.Wo, p);
  parallel_for(pl.count, pl.grain(), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const T* xp = x + plane * pl.H * pl.W;
      T* yp = y + plane * pl.Ho * pl.Wo;
      int64_t* ip = idx + plane * pl.Ho * pl.Wo;
      for (int64_t oh = 0; oh < pl.Ho; ++oh) {
        const Span& sh = win.rows[oh];
        for (int64_t ow = 0; ow < pl.Wo; ++ow) {
          const Span& sw = win.cols[ow];
          T best = -std::numeric_limits<T>::infinity();
          int64_t best_at = sh.first * pl.W + sw.first;
          for (int64_t a = 0, h = sh.first; a < sh.count; ++a, h += sh.step) {
            const T* row = xp + h * pl.W;
            for (int64_t b = 0, w = sw.first; b < sw.count; ++b, w += sw.step) {
              const T v = row[w];
              // PyTorch's rule: a larger value or any NaN takes the window.
              if (v > best || std::isnan(v)) {
                best = v;
                best_at = h * pl.W + w;
              }
            }
          }
          yp[oh * pl.Wo + ow] = best;
          ip[oh * pl.Wo + ow] = best_at;
        }
      }
    }
  });
}

template <class T>
void max_pool_backward_typed(const Tensor& grad_in, const Tensor& grad_out, const Tensor& indices) {
  const Planes pl(grad_in, grad_out);
  const T* gy = grad_out->data<T>();
  const int64_t* idx = indices->data<int64_t>();
  T* gx = grad_in->data<T>();
  parallel_for(pl.count, pl.grain(), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      T* gxp = gx + plane * pl.H * pl.W;
      std::fill(gxp, gxp + pl.H * pl.W, T(0));
      const T* gyp = gy + plane * pl.Ho * pl.Wo;
      const int64_t* ip = idx + plane * pl.Ho * pl.Wo;
      for (int64_t o = 0; o < pl.Ho * pl.Wo; ++o) gxp[ip[o]] += gyp[o];
    }
  });
}

template <class T>
void avg_pool_typed(const Tensor& out, const Tensor& in, const Pool2dParams& p) {
  const Planes pl(in, out);
  const T* x = in->data<T>();
  T* y = out->data<T>();
  const Windows win(pl.H, pl.W, pl.Ho, pl.Wo, p);
  if (tiles_exactly(p, pl.H, pl.W, pl.Ho, pl.Wo) && !p.divisor_override) {
    const int64_t kh = p.kernel[0], kw = p.kernel[1];
    const T scale = T(1) / T(kh * kw);
    parallel_for(pl.count, pl.grain(), [&](int64_t begin, int64_t end) {
      std::vector<T> row_sum(static_cast<size_t>(pl.W));
      for (int64_t plane = begin; plane < end; ++plane) {
        const T* xp = x + plane * pl.H * pl.W;
        T* yp = y + plane * pl.Ho * pl.Wo;
        for (int64_t oh = 0; oh < pl.Ho; ++oh) {
          const T* r = xp + oh * kh * pl.W;
          for (int64_t w = 0; w < pl.W; ++w) row_sum[w] = r[w];
          for (int64_t i = 1; i < kh; ++i)
            for (int64_t w = 0; w < pl.W; ++w) row_sum[w] += r[i * pl.W + w];
          for (int64_t ow = 0; ow < pl.Wo; ++ow) {
            T sum = 0;
            for (int64_t j = 0; j < kw; ++j) sum += row_sum[ow * kw + j];
            yp[oh * pl.Wo + ow] = sum * scale;
          }
        }
      }
    });
    return;
  }
  parallel_for(pl.count, pl.grain(), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const T* xp = x + plane * pl.H * pl.W;
      T* yp = y + plane * pl.Ho * pl.Wo;
      for (int64_t oh = 0; oh < pl.Ho; ++oh) {
        const Span& sh = win.rows[oh];
        for (int64_t ow = 0; ow < pl.Wo; ++ow) {
          const Span& sw = win.cols[ow];
          T sum = 0;
          for (int64_t a = 0, h = sh.first; a < sh.count; ++a, h += sh.step) {
            const T* row = xp + h * pl.W;
            for (int64_t b = 0, w = sw.first; b < sw.count; ++b, w += sw.step) sum += row[w];
          }
          yp[oh * pl.Wo + ow] = sum / T(avg_divisor(oh, ow, sh, sw, pl.H, pl.W, p));
        }
      }
    }
  });
}

template <class T>
void avg_pool_backward_typed(const Tensor& grad_in, const Tensor& grad_out, const Pool2dParams& p) {
  const Planes pl(grad_in, grad_out);
  const T* gy = grad_out->data<T>();
  T* gx = grad_in->data<T>();
  const Windows win(pl.H, pl.W, pl.Ho, pl.Wo, p);
  const bool tiles = tiles_exactly(p, pl.H, pl.W, pl.Ho, pl.Wo) && !p.divisor_override;
  parallel_for(pl.count, pl.grain(), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      T* gxp = gx + plane * pl.H * pl.W;
      const T* gyp = gy + plane * pl.Ho * pl.Wo;
      if (tiles) {
        // Each input position belongs to at most one window: a plain write.
        const int64_t kh = p.kernel[0], kw = p.kernel[1];
        const T scale = T(1) / T(kh * kw);
        for (int64_t h = 0; h < pl.H; ++h) {
          T* row = gxp + h * pl.W;
          const int64_t oh = h / kh;
          if (oh >= pl.Ho) {
            std::fill(row, row + pl.W, T(0));
            continue;
          }
          for (int64_t w = 0; w < pl.Wo * kw; ++w) row[w] = gyp[oh * pl.Wo + w / kw] * scale;
          std::fill(row + pl.Wo * kw, row + pl.W, T(0));
        }
        continue;
      }
      std::fill(gxp, gxp + pl.H * pl.W, T(0));
      for (int64_t oh = 0; oh < pl.Ho; ++oh) {
        const Span& sh = win.rows[oh];
        for (int64_t ow = 0; ow < pl.Wo; ++ow) {
          const Span& sw = win.cols[ow];
          const T share = gyp[oh * pl.Wo + ow] / T(avg_divisor(oh, ow, sh, sw, pl.H, pl.W, p));
          for (int64_t a = 0, h = sh.first; a < sh.count; ++a, h += sh.step) {
            T* row = gxp + h * pl.W;
            for (int64_t b = 0, w = sw.first; b < sw.count; ++b, w += sw.step) row[w] += share;
          }
        }
      }
    }
  });
}

// The kernels are written for float32 and float64; the op layer converts the rest.
bool is_single(DType dtype, const char* what) {
  if (dtype == DType::Float32) return true;
  if (dtype == DType::Float64) return false;
  throw Error(str(what, ": the CPU kernel takes float32 or float64, got ", dtype_name(dtype)));
}

}  // namespace

void max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& in, const Pool2dParams& p) {
  if (is_single(in->dtype, "max_pool2d")) return max_pool_typed<float>(out, indices, in, p);
  max_pool_typed<double>(out, indices, in, p);
}
void max_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& indices) {
  if (is_single(grad_out->dtype, "max_pool2d backward")) return max_pool_backward_typed<float>(grad_in, grad_out, indices);
  max_pool_backward_typed<double>(grad_in, grad_out, indices);
}
void avg_pool2d(const Tensor& out, const Tensor& in, const Pool2dParams& p) {
  if (is_single(in->dtype, "avg_pool2d")) return avg_pool_typed<float>(out, in, p);
  avg_pool_typed<double>(out, in, p);
}
void avg_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out, const Pool2dParams& p) {
  if (is_single(grad_out->dtype, "avg_pool2d backward")) return avg_pool_backward_typed<float>(grad_in, grad_out, p);
  avg_pool_backward_typed<double>(grad_in, grad_out, p);
}

}  // namespace ember::cpu
