// 2-D max and average pooling (fixed windows with stride, padding and
// dilation, or adaptive windows) and their gradients, float32 and float64.
// The window arithmetic is cuda/pool_math.h's, checked on the host.
//
//   forward            one thread per output: its window scanned in row-major
//                      order (max: PyTorch's rule, pool_max_takes; average:
//                      the sum over the valid taps, divided by avg_divisor).
//   avg backward       a gather: one thread per input pixel sums, in output
//                      order, grad_out / divisor over the outputs whose window
//                      holds it (pool_source_out / adaptive_covering). Each
//                      input pixel is written once; no atomics.
//   max backward       the primitive gets the argmax indices but not the
//                      geometry, so a gather cannot know which outputs to ask.
//                      Instead one warp owns a whole (n, c) plane: it walks the
//                      plane's outputs 32 at a time in order, groups the lanes
//                      that point at the same input (__match_any_sync) and lets
//                      the lowest of them add its group's gradients one by one,
//                      in lane order, onto the running value. Every input's sum
//                      is thus formed in increasing output order, exactly the
//                      order of a sequential scatter, with no atomics.
#include <cuda/std/limits>

#include "cuda/common.cuh"
#include "cuda/kernels.h"
#include "cuda/pool_math.h"

namespace ember {
namespace cuda {

namespace {

struct PoolShape {
  int64_t planes;  // N * C
  int64_t H, W, Ho, Wo;
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  bool adaptive, count_include_pad;
  int64_t divisor_override;

  __device__ __forceinline__ PoolWindow rows(int64_t oh) const {
    return adaptive ? adaptive_window(oh, H, Ho) : fixed_window(oh, H, kh, sh, ph, dh);
  }
  __device__ __forceinline__ PoolWindow cols(int64_t ow) const {
    return adaptive ? adaptive_window(ow, W, Wo) : fixed_window(ow, W, kw, sw, pw, dw);
  }
};

PoolShape pool_shape(const Tensor& in_like, const Tensor& out_like, const Pool2dParams& p) {
  PoolShape s{};
  s.planes = in_like->shape[0] * in_like->shape[1];
  s.H = in_like->shape[2];
  s.W = in_like->shape[3];
  s.Ho = out_like->shape[2];
  s.Wo = out_like->shape[3];
  s.kh = p.kernel[0], s.kw = p.kernel[1];
  s.sh = p.stride[0], s.sw = p.stride[1];
  s.ph = p.padding[0], s.pw = p.padding[1];
  s.dh = p.dilation[0], s.dw = p.dilation[1];
  s.adaptive = p.adaptive;
  s.count_include_pad = p.count_include_pad;
  s.divisor_override = p.adaptive ? 0 : p.divisor_override;
  EMBER_CHECK(p.adaptive || (s.kh >= 1 && s.kw >= 1 && s.sh >= 1 && s.sw >= 1 && s.dh >= 1 && s.dw >= 1), Error,
              "CUDA pooling: invalid geometry (the op layer checks it)");
  return s;
}

template <class T>
__global__ void max_pool2d_kernel(PoolShape s, const T* __restrict__ in, T* __restrict__ out,
                                  int64_t* __restrict__ indices) {
  const int64_t total = s.planes * s.Ho * s.Wo;
  for (int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ow = o % s.Wo, oh = (o / s.Wo) % s.Ho, plane = o / (s.Wo * s.Ho);
    const PoolWindow r = s.rows(oh), c = s.cols(ow);
    const T* src = in + plane * s.H * s.W;
    T best = -::cuda::std::numeric_limits<T>::infinity();
    int64_t best_i = r.first * s.W + c.first;
    for (int64_t ih = r.first; ih < r.end; ih += r.step) {
      for (int64_t iw = c.first; iw < c.end; iw += c.step) {
        const T v = src[ih * s.W + iw];
        if (pool_max_takes(v, best)) {
          best = v;
          best_i = ih * s.W + iw;
        }
      }
    }
    out[o] = best;
    indices[o] = best_i;
  }
}

template <class T>
__global__ void avg_pool2d_kernel(PoolShape s, const T* __restrict__ in, T* __restrict__ out) {
  const int64_t total = s.planes * s.Ho * s.Wo;
  for (int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ow = o % s.Wo, oh = (o / s.Wo) % s.Ho, plane = o / (s.Wo * s.Ho);
    const PoolWindow r = s.rows(oh), c = s.cols(ow);
    const T* src = in + plane * s.H * s.W;
    T sum = T(0);
    for (int64_t ih = r.first; ih < r.end; ih += r.step)
      for (int64_t iw = c.first; iw < c.end; iw += c.step) sum += src[ih * s.W + iw];
    out[o] = sum / T(avg_divisor(r, c, s.count_include_pad, s.divisor_override));
  }
}

// grad_out[oh, ow] / its window's divisor.
template <class T>
__device__ __forceinline__ T avg_share(const PoolShape& s, const T* go, int64_t oh, int64_t ow) {
  return go[oh * s.Wo + ow] / T(avg_divisor(s.rows(oh), s.cols(ow), s.count_include_pad, s.divisor_override));
}

template <class T>
__global__ void avg_pool2d_backward_kernel(PoolShape s, const T* __restrict__ grad_out, T* __restrict__ grad_in) {
  const int64_t total = s.planes * s.H * s.W;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t iw = i % s.W, ih = (i / s.W) % s.H, plane = i / (s.W * s.H);
    const T* go = grad_out + plane * s.Ho * s.Wo;
    T acc = T(0);
    if (s.adaptive) {
      int64_t oh0, oh1, ow0, ow1;
      adaptive_covering(ih, s.H, s.Ho, &oh0, &oh1);
      adaptive_covering(iw, s.W, s.Wo, &ow0, &ow1);
      for (int64_t oh = oh0; oh <= oh1; ++oh)
        for (int64_t ow = ow0; ow <= ow1; ++ow) acc += avg_share(s, go, oh, ow);
    } else {
      // Tap kh-1 down to 0 meets the outputs in increasing order.
      for (int64_t a = s.kh - 1; a >= 0; --a) {
        const int64_t oh = pool_source_out(ih, a, s.sh, s.ph, s.dh, s.Ho);
        if (oh < 0) continue;
        for (int64_t b = s.kw - 1; b >= 0; --b) {
          const int64_t ow = pool_source_out(iw, b, s.sw, s.pw, s.dw, s.Wo);
          if (ow >= 0) acc += avg_share(s, go, oh, ow);
        }
      }
    }
    grad_in[i] = acc;
  }
}

constexpr int kPoolWarps = 8;  // warps per block of max_pool2d_backward_kernel

template <class T>
__global__ void __launch_bounds__(kPoolWarps * 32)
    max_pool2d_backward_kernel(int64_t planes, int64_t in_hw, int64_t out_hw, const T* __restrict__ grad_out,
                               const int64_t* __restrict__ indices, T* __restrict__ grad_in) {
  __shared__ T vals[kPoolWarps][32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t warps_total = int64_t(gridDim.x) * kPoolWarps;
  for (int64_t plane = int64_t(blockIdx.x) * kPoolWarps + warp; plane < planes; plane += warps_total) {
    T* gi = grad_in + plane * in_hw;
    const T* go = grad_out + plane * out_hw;
    const int64_t* idx = indices + plane * out_hw;
    for (int64_t i = lane; i < in_hw; i += 32) gi[i] = T(0);
    __syncwarp();  // also orders the zeros before the lanes' reads below
    for (int64_t o0 = 0; o0 < out_hw; o0 += 32) {
      const int64_t o = o0 + lane;
      long long target = -1 - lane;  // distinct for idle lanes: they match nobody
      T v = T(0);
      if (o < out_hw) {
        const int64_t t = idx[o];
        if (t >= 0 && t < in_hw) {  // an index from elsewhere cannot write outside the plane
          target = t;
          v = go[o];
        }
      }
      vals[warp][lane] = v;
      const unsigned peers = __match_any_sync(0xffffffffu, target);
      __syncwarp();
      if (target >= 0 && lane == __ffs(peers) - 1) {
        T acc = gi[target];
        for (unsigned m = peers; m; m &= m - 1) acc += vals[warp][__ffs(m) - 1];
        gi[target] = acc;
      }
      __syncwarp();  // this step's sums land before the next step reads them (or reuses vals)
    }
  }
}

template <class F>
void dispatch_pool_dtype(DType dt, const char* what, F&& f) {
  switch (dt) {
    case DType::Float32: f(Tag<float>{}); break;
    case DType::Float64: f(Tag<double>{}); break;
    default: throw TypeError(str(what, " on CUDA is not implemented for ", dtype_name(dt)));
  }
}

}  // namespace

void max_pool2d_cuda(const Tensor& out, const Tensor& indices, const Tensor& in, const Pool2dParams& p) {
  const PoolShape s = pool_shape(in, out, p);
  const int64_t total = out->numel();
  if (total == 0) return;
  dispatch_pool_dtype(in->dtype, "max_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    max_pool2d_kernel<T><<<grid_for(total), kThreads, 0, stream()>>>(s, data_ptr<T>(in), data_ptr<T>(out),
                                                                      data_ptr<int64_t>(indices));
    EMBER_CUDA_LAUNCH_CHECK("max_pool2d_kernel");
  });
}

void max_pool2d_backward_cuda(const Tensor& grad_in, const Tensor& grad_out, const Tensor& indices) {
  const int64_t planes = grad_in->shape[0] * grad_in->shape[1];
  const int64_t in_hw = grad_in->shape[2] * grad_in->shape[3];
  const int64_t out_hw = grad_out->shape[2] * grad_out->shape[3];
  if (grad_in->numel() == 0) return;
  dispatch_pool_dtype(grad_in->dtype, "max_pool2d backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    int64_t blocks = ceil_div(planes, int64_t(kPoolWarps));
    const int64_t cap = int64_t(sm_count()) * 16;
    if (blocks > cap) blocks = cap;
    max_pool2d_backward_kernel<T><<<unsigned(blocks), kPoolWarps * 32, 0, stream()>>>(
        planes, in_hw, out_hw, data_ptr<T>(grad_out), data_ptr<int64_t>(indices), data_ptr<T>(grad_in));
    EMBER_CUDA_LAUNCH_CHECK("max_pool2d_backward_kernel");
  });
}

void avg_pool2d_cuda(const Tensor& out, const Tensor& in, const Pool2dParams& p) {
  const PoolShape s = pool_shape(in, out, p);
  const int64_t total = out->numel();
  if (total == 0) return;
  dispatch_pool_dtype(in->dtype, "avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    avg_pool2d_kernel<T><<<grid_for(total), kThreads, 0, stream()>>>(s, data_ptr<T>(in), data_ptr<T>(out));
    EMBER_CUDA_LAUNCH_CHECK("avg_pool2d_kernel");
  });
}

void avg_pool2d_backward_cuda(const Tensor& grad_in, const Tensor& grad_out, const Pool2dParams& p) {
  const PoolShape s = pool_shape(grad_in, grad_out, p);
  const int64_t total = grad_in->numel();
  if (total == 0) return;
  dispatch_pool_dtype(grad_in->dtype, "avg_pool2d backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    avg_pool2d_backward_kernel<T><<<grid_for(total), kThreads, 0, stream()>>>(s, data_ptr<T>(grad_out),
                                                                               data_ptr<T>(grad_in));
    EMBER_CUDA_LAUNCH_CHECK("avg_pool2d_backward_kernel");
  });
}

}  // namespace cuda
}  // namespace ember
