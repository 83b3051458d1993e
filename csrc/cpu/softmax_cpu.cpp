// Softmax and log-softmax over the last dim of a contiguous [outer, n],
// max-shifted so that logits of +-1000 stay finite.
#include <cmath>

#include "dispatch.h"
#include "kernels.h"
#include "parallel.h"

namespace ember::cpu {

void softmax(const Tensor& out, const Tensor& in, bool log) {
  dispatch_floating(in->dtype, "softmax", [&](auto tag) {
    using T = decltype(tag);
    int64_t n = in->shape.back();
    int64_t outer = n ? in->numel() / n : 0;
    const T* x = in->data<T>();
    T* y = out->data<T>();
    parallel_for(outer, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* xr = x + r * n;
        T* yr = y + r * n;
        T m = -INFINITY;
        for (int64_t i = 0; i < n; ++i) m = xr[i] > m || std::isnan(xr[i]) ? xr[i] : m;
        if (std::isinf(m) && m < 0) m = 0;  // all -inf: avoid inf - inf
        T s = 0;
        for (int64_t i = 0; i < n; ++i) {
          T ex = std::exp(xr[i] - m);
          if (!log) yr[i] = ex;
          s += ex;
        }
        if (log) {
          // (x - m) - log s, not x - (m + log s): the latter loses the small
          // log-sum when |m| is large (logits of +-1000).
          T log_s = std::log(s);
          for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) - log_s;
        } else {
          T inv = T(1) / s;
          for (int64_t i = 0; i < n; ++i) yr[i] *= inv;
        }
      }
    });
  });
}

void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log) {
  dispatch_floating(out->dtype, "softmax backward", [&](auto tag) {
    using T = decltype(tag);
    int64_t n = out->shape.back();
    int64_t outer = n ? out->numel() / n : 0;
    const T* g = grad_out->data<T>();
    const T* y = out->data<T>();
    T* gi = grad_in->data<T>();
    parallel_for(outer, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* gr = g + r * n;
        const T* yr = y + r * n;
        T* o = gi + r * n;
        T dot = 0;
        if (log) {
          // d/dx log_softmax: g - softmax * sum(g)
          for (int64_t i = 0; i < n; ++i) dot += gr[i];
          for (int64_t i = 0; i < n; ++i) o[i] = gr[i] - std::exp(yr[i]) * dot;
        } else {
          // d/dx softmax: y * (g - sum(g * y))
          for (int64_t i = 0; i < n; ++i) dot += gr[i] * yr[i];
          for (int64_t i = 0; i < n; ++i) o[i] = yr[i] * (gr[i] - dot);
        }
      }
    });
  });
}

}  // namespace ember::cpu
