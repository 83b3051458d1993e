// Normalization primitives on the CPU: per-channel statistics of a
// contiguous [N, C, S], the fused per-channel affine apply, and the
// backward's reduction and apply (csrc/backend.h has the contracts).
//
// The statistics and the backward reduction split [N, C, S] into blocks of
// about kBlockElems elements (some rows n of some channels c), a split fixed
// by the sizes alone. Each block is one task: a thread computes its partial
// result per channel and writes it into a [row blocks, C] table, and the
// table is combined per channel in block order afterwards. So the result
// is the same for any thread count, and a block is small enough to stay in
// L2 between the two passes of the two-pass variance: memory is read once.
#include <algorithm>
#include <cstring>

#include "allocator_cpu.h"
#include "dispatch.h"
#include "kernels.h"
#include "parallel.h"
#include "streaming.h"

namespace ember::cpu {

namespace {

// About 64 KiB of float32 per block: the second pass finds it in L2.
constexpr int64_t kBlockElems = 16384;
// Channels whose runs (S) are shorter than this are walked row by row with
// one accumulator per (channel, s) position, so that the inner loop is long
// (BatchNorm1d's [N, C] has S = 1); longer runs, and blocks of a single row
// (layer norm's [1, rows, K], where each channel is one run), are summed
// run by run: accumulator rows for 24-element layer-norm rows made
// LayerNorm(24) on [256, 6, 24, 24] three times slower than PyTorch.
constexpr int64_t kShortRun = 32;
// Partial sums of a run are kept in T over chunks of this many elements
// (in vector lanes), then added into a double: a float32 lane holds at most
// 64 terms.
constexpr int64_t kChunk = 1024;

// Scratch doubles from the CPU allocator, which recycles blocks by size: as
// std::vectors, the [row blocks, C] partials came fresh from the system on
// every call, and faulting its pages in was most of the time of a layer norm
// over many short rows (32768 rows of 8: 2 ms for 262K elements).
struct Scratch {
  double* data;
  size_t nbytes;
  explicit Scratch(int64_t n)
      : data(static_cast<double*>(allocate(size_t(n) * sizeof(double)))), nbytes(size_t(n) * sizeof(double)) {}
  ~Scratch() { deallocate(data, nbytes); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

struct Geometry {
  int64_t n = 0, c = 0, s = 0;
  int64_t rows_per_block = 1, channels_per_block = 1;
  int64_t row_blocks = 0, channel_blocks = 0;
  int64_t tasks() const { return row_blocks * channel_blocks; }
  int64_t task_elems() const { return rows_per_block * channels_per_block * s; }
};

Geometry geometry(const Tensor& in) {
  Geometry g;
  g.n = in->shape[0];
  g.c = in->shape[1];
  g.s = in->shape[2];
  const int64_t row = g.c * g.s;
  if (g.s >= kBlockElems) {
    g.rows_per_block = 1;
    g.channels_per_block = 1;
  } else if (row >= kBlockElems) {
    g.rows_per_block = 1;
    g.channels_per_block = kBlockElems / g.s;
  } else {
    g.channels_per_block = g.c;
    g.rows_per_block = std::max<int64_t>(1, kBlockElems / std::max<int64_t>(row, 1));
  }
  g.channels_per_block = std::min(g.channels_per_block, std::max<int64_t>(g.c, 1));
  g.rows_per_block = std::min(g.rows_per_block, std::max<int64_t>(g.n, 1));
  g.row_blocks = (g.n + g.rows_per_block - 1) / g.rows_per_block;
  g.channel_blocks = (g.c + g.channels_per_block - 1) / g.channels_per_block;
  return g;
}

// Runs the tasks of `g` (fn(row_block, c_begin, c_end, n_begin, n_end)) in
// parallel when the tensor is large enough to pay for a thread team.
template <typename F>
void for_each_block(const Geometry& g, F&& fn) {
  const int64_t grain = std::max<int64_t>(1, kMemoryBoundGrain / std::max<int64_t>(g.task_elems(), 1));
  parallel_for(g.tasks(), grain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t rb = t / g.channel_blocks, cblk = t % g.channel_blocks;
      const int64_t n0 = rb * g.rows_per_block, n1 = std::min(g.n, n0 + g.rows_per_block);
      const int64_t c0 = cblk * g.channels_per_block, c1 = std::min(g.c, c0 + g.channels_per_block);
      fn(rb, c0, c1, n0, n1);
    }
  });
}

// The run loops below use GCC's vector types (16 bytes: one SSE register
// on the baseline x86-64 the core targets) with two independent
// accumulators per sum. Written as arrays of scalar lanes, GCC's vectorizer
// spilled the accumulators and shuffled lanes (and 32-byte vectors without
// AVX live on the stack), and the statistics ran at a fifth of a plain
// sum's speed. Lanes are folded in a fixed order, so results depend on the
// data alone.
template <typename T>
struct VecOf;
template <>
struct VecOf<float> {
  typedef float type __attribute__((vector_size(16)));
};
template <>
struct VecOf<double> {
  typedef double type __attribute__((vector_size(16)));
};
template <typename T>
using Vec = typename VecOf<T>::type;
template <typename T>
constexpr int64_t kLanes = int64_t(16 / sizeof(T));

template <typename T>
__attribute__((always_inline)) inline Vec<T> load(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename T>
__attribute__((always_inline)) inline Vec<T> splat(T x) {
  Vec<T> v;
  for (int64_t k = 0; k < kLanes<T>; ++k) v[k] = x;
  return v;
}
template <typename T>
__attribute__((always_inline)) inline double fold(const Vec<T>& a, const Vec<T>& b) {
  Vec<T> v = a + b;
  T total = 0;
  for (int64_t k = 0; k < kLanes<T>; ++k) total += v[k];
  return double(total);
}

// sum of x[i] over a run.
template <typename T>
inline double run_sum(const T* x, int64_t len) {
  constexpr int64_t L = kLanes<T>;
  double total = 0;
  for (int64_t base = 0; base < len; base += kChunk) {
    const int64_t n = std::min(kChunk, len - base);
    const T* p = x + base;
    Vec<T> a = {}, b = {};
    int64_t i = 0;
    for (; i + 2 * L <= n; i += 2 * L) {
      a += load(p + i);
      b += load(p + i + L);
    }
    T tail = 0;
    for (; i < n; ++i) tail += p[i];
    total += fold<T>(a, b) + double(tail);
  }
  return total;
}

// sum of (x - m) and of (x - m)^2 over a run.
template <typename T>
inline void run_dev_sums(const T* x, int64_t len, T m, double* sum1, double* sum2) {
  constexpr int64_t L = kLanes<T>;
  const Vec<T> mv = splat(m);
  double t1 = 0, t2 = 0;
  for (int64_t base = 0; base < len; base += kChunk) {
    const int64_t n = std::min(kChunk, len - base);
    const T* p = x + base;
    Vec<T> a1 = {}, b1 = {}, a2 = {}, b2 = {};
    int64_t i = 0;
    for (; i + 2 * L <= n; i += 2 * L) {
      const Vec<T> d = load(p + i) - mv, e = load(p + i + L) - mv;
      a1 += d;
      b1 += e;
      a2 += d * d;
      b2 += e * e;
    }
    T tail1 = 0, tail2 = 0;
    for (; i < n; ++i) {
      const T d = p[i] - m;
      tail1 += d;
      tail2 += d * d;
    }
    t1 += fold<T>(a1, b1) + double(tail1);
    t2 += fold<T>(a2, b2) + double(tail2);
  }
  *sum1 += t1;
  *sum2 += t2;
}

// sum of dy and of dy * (x - m) over a run.
template <typename T>
inline void run_backward_sums(const T* dy, const T* x, int64_t len, T m, double* sum_dy, double* sum_dy_xmu) {
  constexpr int64_t L = kLanes<T>;
  const Vec<T> mv = splat(m);
  double t1 = 0, t2 = 0;
  for (int64_t base = 0; base < len; base += kChunk) {
    const int64_t n = std::min(kChunk, len - base);
    const T* g = dy + base;
    const T* p = x + base;
    Vec<T> a1 = {}, b1 = {}, a2 = {}, b2 = {};
    int64_t i = 0;
    for (; i + 2 * L <= n; i += 2 * L) {
      const Vec<T> ga = load(g + i), gb = load(g + i + L);
      a1 += ga;
      b1 += gb;
      a2 += ga * (load(p + i) - mv);
      b2 += gb * (load(p + i + L) - mv);
    }
    T tail1 = 0, tail2 = 0;
    for (; i < n; ++i) {
      tail1 += g[i];
      tail2 += g[i] * (p[i] - m);
    }
    t1 += fold<T>(a1, b1) + double(tail1);
    t2 += fold<T>(a2, b2) + double(tail2);
  }
  *sum_dy += t1;
  *sum_dy_xmu += t2;
}

// One block's (mean, M2) per channel, two-pass: the block mean first, then
// the squared deviations from it (rounded to T), corrected for that
// rounding by the deviations' own sum (M2 = sum d^2 - (sum d)^2 / count).
template <typename T>
void block_stats(const T* x, const Geometry& g, int64_t c0, int64_t c1, int64_t n0, int64_t n1, double* mean_out,
                 double* m2_out) {
  const int64_t S = g.s, row = g.c * S, width = (c1 - c0) * S;
  const double count = double((n1 - n0) * S);
  const double inv_count = 1.0 / count;  // one division per block, not three per channel
  if (S < kShortRun && n1 - n0 == 1) {
    // One short run per channel (layer norm over a few elements): plain
    // two-pass loops in double; the vector loops' set-up cost more than this.
    for (int64_t c = c0; c < c1; ++c) {
      const T* p = x + n0 * row + c * S;
      double sum = 0;
      for (int64_t i = 0; i < S; ++i) sum += double(p[i]);
      const double mean = sum * inv_count;
      double m2 = 0;
      for (int64_t i = 0; i < S; ++i) {
        const double d = double(p[i]) - mean;
        m2 += d * d;
      }
      mean_out[c] = mean;
      m2_out[c] = m2;
    }
    return;
  }
  if (S >= kShortRun || n1 - n0 == 1) {  // runs long enough, or one run per channel
    for (int64_t c = c0; c < c1; ++c) {
      double sum = 0;
      for (int64_t n = n0; n < n1; ++n) sum += run_sum(x + n * row + c * S, S);
      const double mean = sum * inv_count;
      const T m = T(mean);
      double s1 = 0, s2 = 0;
      for (int64_t n = n0; n < n1; ++n) run_dev_sums(x + n * row + c * S, S, m, &s1, &s2);
      mean_out[c] = double(m) + s1 * inv_count;
      m2_out[c] = std::max(0.0, s2 - s1 * s1 * inv_count);
    }
    return;
  }
  // Short runs: accumulators per (channel, s) position of the row span.
  Scratch scratch(3 * width);
  double* acc = scratch.data;
  double* acc2 = acc + width;
  double* mrow = acc2 + width;
  std::fill(acc, acc + 2 * width, 0.0);
  for (int64_t n = n0; n < n1; ++n) {
    const T* p = x + n * row + c0 * S;
    for (int64_t j = 0; j < width; ++j) acc[j] += double(p[j]);
  }
  for (int64_t c = c0; c < c1; ++c) {
    double sum = 0;
    for (int64_t s = 0; s < S; ++s) sum += acc[(c - c0) * S + s];
    const double mean = sum * inv_count;
    for (int64_t s = 0; s < S; ++s) mrow[(c - c0) * S + s] = mean;
  }
  std::fill(acc, acc + width, 0.0);
  for (int64_t n = n0; n < n1; ++n) {
    const T* p = x + n * row + c0 * S;
    for (int64_t j = 0; j < width; ++j) {
      const double d = double(p[j]) - mrow[j];
      acc[j] += d;
      acc2[j] += d * d;
    }
  }
  for (int64_t c = c0; c < c1; ++c) {
    double s1 = 0, s2 = 0;
    for (int64_t s = 0; s < S; ++s) {
      s1 += acc[(c - c0) * S + s];
      s2 += acc2[(c - c0) * S + s];
    }
    mean_out[c] = mrow[(c - c0) * S] + s1 * inv_count;
    m2_out[c] = std::max(0.0, s2 - s1 * s1 * inv_count);
  }
}

template <typename T>
void block_backward_sums(const T* dy, const T* x, const T* mean, const Geometry& g, int64_t c0, int64_t c1,
                         int64_t n0, int64_t n1, double* sum_dy, double* sum_dy_xmu) {
  const int64_t S = g.s, row = g.c * S, width = (c1 - c0) * S;
  if (S < kShortRun && n1 - n0 == 1) {  // one short run per channel
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t off = n0 * row + c * S;
      const double m = double(mean[c]);
      double a = 0, b = 0;
      for (int64_t i = 0; i < S; ++i) {
        a += double(dy[off + i]);
        b += double(dy[off + i]) * (double(x[off + i]) - m);
      }
      sum_dy[c] = a;
      sum_dy_xmu[c] = b;
    }
    return;
  }
  if (S >= kShortRun || n1 - n0 == 1) {  // runs long enough, or one run per channel
    for (int64_t c = c0; c < c1; ++c) {
      double a = 0, b = 0;
      for (int64_t n = n0; n < n1; ++n) {
        const int64_t off = n * row + c * S;
        run_backward_sums(dy + off, x + off, S, mean[c], &a, &b);
      }
      sum_dy[c] = a;
      sum_dy_xmu[c] = b;
    }
    return;
  }
  Scratch scratch(3 * width);
  double* a = scratch.data;
  double* b = a + width;
  double* mrow = b + width;
  std::fill(a, a + 2 * width, 0.0);
  for (int64_t j = 0; j < width; ++j) mrow[j] = double(mean[c0 + j / S]);
  for (int64_t n = n0; n < n1; ++n) {
    const int64_t off = n * row + c0 * S;
    const T* gp = dy + off;
    const T* xp = x + off;
    for (int64_t j = 0; j < width; ++j) {
      a[j] += double(gp[j]);
      b[j] += double(gp[j]) * (double(xp[j]) - mrow[j]);
    }
  }
  for (int64_t c = c0; c < c1; ++c) {
    double sa = 0, sb = 0;
    for (int64_t s = 0; s < S; ++s) {
      sa += a[(c - c0) * S + s];
      sb += b[(c - c0) * S + s];
    }
    sum_dy[c] = sa;
    sum_dy_xmu[c] = sb;
  }
}

// Calls fn(offset, c_begin, c_end) for the row segments of planes
// [p0, p1) (plane p = n * C + c is the run of S elements at p * S).
template <typename F>
inline void for_each_row_segment(int64_t p0, int64_t p1, int64_t C, F&& fn) {
  while (p0 < p1) {
    const int64_t c = p0 % C;
    const int64_t end = std::min(p1, p0 + (C - c));
    fn(p0, c, c + (end - p0));
    p0 = end;
  }
}

// fn(p0, p1) over the planes of an [N, C, S] tensor, in parallel when large.
template <typename F>
void for_each_planes(const Tensor& t, F&& fn) {
  const int64_t planes = t->shape[0] * t->shape[1], S = t->shape[2];
  parallel_for(planes, std::max<int64_t>(1, kMemoryBoundGrain / std::max<int64_t>(S, 1)), fn);
}

}  // namespace

void batch_norm_stats(const Tensor& mean, const Tensor& var, const Tensor& in) {
  dispatch_floating(in->dtype, "batch_norm_stats", [&](auto tag) {
    using T = decltype(tag);
    const Geometry g = geometry(in);
    if (g.c == 0) return;
    Scratch pmean_s(g.row_blocks * g.c), pm2_s(g.row_blocks * g.c);
    double* pmean = pmean_s.data;
    double* pm2 = pm2_s.data;
    const T* x = in->data<T>();
    for_each_block(g, [&](int64_t rb, int64_t c0, int64_t c1, int64_t n0, int64_t n1) {
      block_stats<T>(x, g, c0, c1, n0, n1, pmean + rb * g.c, pm2 + rb * g.c);
    });
    // Chan et al.'s pairwise update, blocks in order.
    T* mo = mean->data<T>();
    T* vo = var->data<T>();
    for (int64_t c = 0; c < g.c; ++c) {
      double count = 0, mu = 0, m2 = 0;
      for (int64_t rb = 0; rb < g.row_blocks; ++rb) {
        const double nb = double((std::min(g.n, (rb + 1) * g.rows_per_block) - rb * g.rows_per_block) * g.s);
        const double mb = pmean[rb * g.c + c], m2b = pm2[rb * g.c + c];
        const double total = count + nb;
        const double delta = mb - mu;
        mu += delta * (nb / total);
        m2 += m2b + delta * delta * (count * nb / total);
        count = total;
      }
      mo[c] = T(mu);
      vo[c] = T(m2 / count);
    }
  });
}

void batch_norm_apply(const Tensor& out, const Tensor& in, const Tensor& scale, const Tensor& shift) {
  dispatch_floating(in->dtype, "batch_norm_apply", [&](auto tag) {
    using T = decltype(tag);
    const int64_t C = in->shape[1], S = in->shape[2];
    const T* x = in->data<T>();
    const T* a = scale->data<T>();
    const T* b = shift->data<T>();
    T* o = out->data<T>();
    const bool streaming = use_streaming_stores(out->numel() * int64_t(sizeof(T)));
    for_each_planes(in, [&](int64_t p0, int64_t p1) {
      for_each_row_segment(p0, p1, C, [&](int64_t p, int64_t c0, int64_t c1) {
        const T* xp = x + p * S;
        T* op = o + p * S;
        if (S == 1) {
          for (int64_t c = c0; c < c1; ++c) op[c - c0] = xp[c - c0] * a[c] + b[c];
          return;
        }
        for (int64_t c = c0; c < c1; ++c, xp += S, op += S) {
          const T ac = a[c], bc = b[c];
          if (streaming && S >= kShortRun) {
            stream_run(op, S, [&](int64_t i) { return xp[i] * ac + bc; });
          } else {
            for (int64_t i = 0; i < S; ++i) op[i] = xp[i] * ac + bc;
          }
        }
      });
    });
  });
}

void batch_norm_backward_reduce(const Tensor& sum_dy, const Tensor& sum_dy_xmu, const Tensor& grad_out,
                                const Tensor& in, const Tensor& mean) {
  dispatch_floating(in->dtype, "batch_norm_backward_reduce", [&](auto tag) {
    using T = decltype(tag);
    const Geometry g = geometry(in);
    if (g.c == 0) return;
    Scratch pdy_s(g.row_blocks * g.c), pdx_s(g.row_blocks * g.c);
    double* pdy = pdy_s.data;
    double* pdx = pdx_s.data;
    const T* dy = grad_out->data<T>();
    const T* x = in->data<T>();
    const T* m = mean->data<T>();
    for_each_block(g, [&](int64_t rb, int64_t c0, int64_t c1, int64_t n0, int64_t n1) {
      block_backward_sums<T>(dy, x, m, g, c0, c1, n0, n1, pdy + rb * g.c, pdx + rb * g.c);
    });
    T* so = sum_dy->data<T>();
    T* sx = sum_dy_xmu->data<T>();
    for (int64_t c = 0; c < g.c; ++c) {
      double a = 0, b = 0;
      for (int64_t rb = 0; rb < g.row_blocks; ++rb) {
        a += pdy[rb * g.c + c];
        b += pdx[rb * g.c + c];
      }
      so[c] = T(a);
      sx[c] = T(b);
    }
  });
}

void batch_norm_backward_apply(const Tensor& grad_in, const Tensor& grad_out, const Tensor& in, const Tensor& mean,
                               const Tensor& dy_scale, const Tensor& xmu_scale, const Tensor& shift) {
  dispatch_floating(in->dtype, "batch_norm_backward_apply", [&](auto tag) {
    using T = decltype(tag);
    const int64_t C = in->shape[1], S = in->shape[2];
    const T* dy = grad_out->data<T>();
    const T* x = in->data<T>();
    const T* m = mean->data<T>();
    const T* ka = dy_scale->data<T>();
    const T* kb = xmu_scale->data<T>();
    const T* kd = shift->data<T>();
    T* o = grad_in->data<T>();
    const bool streaming = use_streaming_stores(grad_in->numel() * int64_t(sizeof(T)));
    for_each_planes(in, [&](int64_t p0, int64_t p1) {
      for_each_row_segment(p0, p1, C, [&](int64_t p, int64_t c0, int64_t c1) {
        const T* gp = dy + p * S;
        const T* xp = x + p * S;
        T* op = o + p * S;
        if (S == 1) {
          for (int64_t c = c0; c < c1; ++c) {
            const int64_t i = c - c0;
            op[i] = gp[i] * ka[c] + (xp[i] - m[c]) * kb[c] + kd[c];
          }
          return;
        }
        for (int64_t c = c0; c < c1; ++c, gp += S, xp += S, op += S) {
          const T a = ka[c], b = kb[c], d = kd[c], mc = m[c];
          if (streaming && S >= kShortRun) {
            stream_run(op, S, [&](int64_t i) { return gp[i] * a + (xp[i] - mc) * b + d; });
          } else {
            for (int64_t i = 0; i < S; ++i) op[i] = gp[i] * a + (xp[i] - mc) * b + d;
          }
        }
      });
    });
  });
}

}  // namespace ember::cpu
