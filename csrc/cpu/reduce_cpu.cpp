// Reductions on the CPU. The input is walked in its own memory order; a run
// whose output stride is 0 collapses into one accumulator (inner reduction,
// e.g. a row sum), otherwise it adds elementwise into a row of outputs
// (outer reduction, e.g. a column sum), so both stream through memory.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "../error.h"
#include "cpu_features.h"
#include "dispatch.h"
#include "kernels.h"
#include "loops.h"

namespace ember::cpu {

namespace {

// The body of a whole-tensor sum over one block of at most 64K elements:
// 32 independent partial sums, which the compiler keeps in vector registers
// (several independent add chains, so the loop streams at memory speed
// instead of waiting on one add's latency) and which bound rounding growth.
template <typename T>
__attribute__((always_inline)) inline T sum_block(const T* x, int64_t n) {
  T acc[32] = {};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 32; ++k) acc[k] = T(acc[k] + x[i + k]);
  for (int w = 16; w >= 1; w /= 2)
    for (int k = 0; k < w; ++k) acc[k] = T(acc[k] + acc[k + w]);
  T total = acc[0];
  for (; i < n; ++i) total = T(total + x[i]);
  return total;
}

#if defined(__x86_64__) && defined(__GNUC__)
// The same code compiled for AVX2 (the core itself targets baseline x86-64):
// the lanes of the 32 partial sums are the same, so the result is bit-identical
// to the baseline build; only the loads and adds are twice as wide, which
// matters when the data comes from cache (4M float32, ember/PyTorch
// interleaved: 0.98-1.04x -> 1.06-1.08x).
__attribute__((target("avx2"))) float sum_block_avx2(const float* x, int64_t n) { return sum_block<float>(x, n); }
__attribute__((target("avx2"))) double sum_block_avx2(const double* x, int64_t n) { return sum_block<double>(x, n); }
#endif

template <typename T>
struct SumOp {
  static T identity() { return T(0); }
  static T combine(T a, T b) { return T(a + b); }
  static T run(const T* x, int64_t n) {
    // Long inputs are summed in blocks, pairwise.
    constexpr int64_t kBlock = 1 << 16;
    if (n > kBlock) {
      int64_t half = (n / 2 + 31) & ~int64_t(31);
      return T(run(x, half) + run(x + half, n - half));
    }
#if defined(__x86_64__) && defined(__GNUC__)
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      static const bool has_avx2 = cpu_use_avx2_only();
      if (has_avx2) return sum_block_avx2(x, n);
    }
#endif
    return sum_block<T>(x, n);
  }
};

template <typename T>
struct ProdOp {
  static T identity() { return T(1); }
  static T combine(T a, T b) { return T(a * b); }
  static T run(const T* x, int64_t n) {
    T acc = T(1);
    for (int64_t i = 0; i < n; ++i) acc = T(acc * x[i]);
    return acc;
  }
};

template <typename T, bool kMax>
struct ExtremumOp {
  static T identity() {
    if constexpr (std::is_floating_point_v<T>) {
      return kMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    } else {
      return kMax ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
    }
  }
  static T combine(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
    }
    if constexpr (kMax) return a > b ? a : b;
    else return a < b ? a : b;
  }
  static T run(const T* x, int64_t n) {
    T acc = identity();
    for (int64_t i = 0; i < n; ++i) acc = combine(acc, x[i]);
    return acc;
  }
};

struct AnyOp {
  static bool identity() { return false; }
  static bool combine(bool a, bool b) { return a || b; }
  static bool run(const bool* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
      if (x[i]) return true;
    return false;
  }
};
struct AllOp {
  static bool identity() { return true; }
  static bool combine(bool a, bool b) { return a && b; }
  static bool run(const bool* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
      if (!x[i]) return false;
    return true;
  }
};

// Serial walk of one layout: operand 0 is the input, operand 1 the output.
template <typename T, typename Op>
void reduce_walk(const StridedLayout<2>& L) {
  for_each_run<2>(
      L,
      [](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
        T* out = reinterpret_cast<T*>(p[1]);
        if (s[1] == 0) {
          T acc;
          if (s[0] == sizeof(T)) {
            acc = Op::run(reinterpret_cast<const T*>(p[0]), n);
          } else {
            acc = Op::identity();
            for (int64_t i = 0; i < n; ++i) acc = Op::combine(acc, *reinterpret_cast<const T*>(p[0] + i * s[0]));
          }
          *out = Op::combine(*out, acc);
        } else if (s[0] == sizeof(T) && s[1] == sizeof(T)) {
          const T* x = reinterpret_cast<const T*>(p[0]);
          for (int64_t i = 0; i < n; ++i) out[i] = Op::combine(out[i], x[i]);
        } else {
          for (int64_t i = 0; i < n; ++i) {
            T* o = reinterpret_cast<T*>(p[1] + i * s[1]);
            *o = Op::combine(*o, *reinterpret_cast<const T*>(p[0] + i * s[0]));
          }
        }
      },
      /*parallel=*/false);
}

// Whole-tensor reduction of a contiguous run. The work is cut into a binary
// tree of halves that depends on n alone (the same split points as
// SumOp::run), its leaves run in parallel and are combined pairwise, so the
// result is bit-identical whatever the number of threads.
template <typename T, typename Op>
T reduce_contiguous(const T* x, int64_t n) {
  std::vector<std::pair<int64_t, int64_t>> leaves{{0, n}};  // [begin, end)
  while (leaves.size() < 8) {
    int64_t shortest = n;
    for (auto& l : leaves) shortest = std::min(shortest, l.second - l.first);
    if (shortest < 2 * kMemoryBoundGrain) break;
    std::vector<std::pair<int64_t, int64_t>> next;
    for (auto& l : leaves) {
      int64_t half = ((l.second - l.first) / 2 + 31) & ~int64_t(31);
      next.push_back({l.first, l.first + half});
      next.push_back({l.first + half, l.second});
    }
    leaves.swap(next);
  }
  if (leaves.size() == 1) return Op::run(x, n);
  std::vector<T> partial(leaves.size(), Op::identity());
  parallel_for(static_cast<int64_t>(leaves.size()), 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) partial[c] = Op::run(x + leaves[c].first, leaves[c].second - leaves[c].first);
  });
  for (size_t width = partial.size(); width > 1; width /= 2)
    for (size_t k = 0; k < width / 2; ++k) partial[k] = Op::combine(partial[2 * k], partial[2 * k + 1]);
  return partial[0];
}

// acc[j] = combine(acc[j], x[r][j]) over `rows` rows of `cols` contiguous
// elements, four rows per pass: a quarter of the loads and stores of acc,
// and four independent read streams for the prefetchers.
template <typename T, typename Op>
void accumulate_rows(T* acc, const char* x, int64_t rows, int64_t row_stride, int64_t cols) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    const T* x0 = reinterpret_cast<const T*>(x + r * row_stride);
    const T* x1 = reinterpret_cast<const T*>(x + (r + 1) * row_stride);
    const T* x2 = reinterpret_cast<const T*>(x + (r + 2) * row_stride);
    const T* x3 = reinterpret_cast<const T*>(x + (r + 3) * row_stride);
    for (int64_t j = 0; j < cols; ++j)
      acc[j] = Op::combine(acc[j], Op::combine(Op::combine(x0[j], x1[j]), Op::combine(x2[j], x3[j])));
  }
  for (; r < rows; ++r) {
    const T* xr = reinterpret_cast<const T*>(x + r * row_stride);
    for (int64_t j = 0; j < cols; ++j) acc[j] = Op::combine(acc[j], xr[j]);
  }
}

// Outer reduction of a [rows, cols] layout whose rows are contiguous (a
// column sum, sum(dim=0)). Threads take blocks of rows, each streaming its
// rows front to back into a private row of partial results, which are then
// combined in block order. The blocks depend on the sizes alone, so the
// result is the same for any number of threads. Splitting the columns
// instead left each thread reading short pieces of every row: 10 GB/s
// against 18-27 GB/s this way (2000 x 2000 float32, bench/RESULTS.md).
template <typename T, typename Op>
void reduce_columns(T* out, const char* x, int64_t rows, int64_t row_stride, int64_t cols) {
  int64_t blocks = std::clamp<int64_t>(rows * cols / kMemoryBoundGrain, 1, 8);
  blocks = std::min(blocks, std::max<int64_t>(1, rows / 4));
  if (blocks == 1) return accumulate_rows<T, Op>(out, x, rows, row_stride, cols);
  // (Not std::vector: vector<bool> has no data() for any/all.)
  std::unique_ptr<T[]> partial(new T[static_cast<size_t>(blocks * cols)]);
  std::fill(partial.get(), partial.get() + blocks * cols, Op::identity());
  parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      int64_t r0 = rows * b / blocks, r1 = rows * (b + 1) / blocks;
      accumulate_rows<T, Op>(partial.get() + b * cols, x + r0 * row_stride, r1 - r0, row_stride, cols);
    }
  });
  for (int64_t b = 0; b < blocks; ++b) {
    const T* pb = partial.get() + b * cols;
    for (int64_t j = 0; j < cols; ++j) out[j] = Op::combine(out[j], pb[j]);
  }
}

template <typename T, typename Op>
void reduce_typed(const Tensor& out, const Tensor& in) {
  // Initialise outputs, then view them with stride 0 on the reduced dims.
  {
    T id = Op::identity();
    for_each_run<1>({out.get()}, [id](std::array<char*, 1> p, std::array<int64_t, 1> s, int64_t n) {
      for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(p[0] + i * s[0]) = id;
    });
  }
  if (in->numel() == 0) return;
  Shape out_strides(in->ndim());
  for (int64_t d = 0; d < in->ndim(); ++d) out_strides[d] = out->shape[d] == 1 ? 0 : out->strides[d];
  TensorImpl out_view;
  out_view.storage = out->storage;
  out_view.shape = in->shape;
  out_view.strides = out_strides;
  out_view.offset = out->offset;
  out_view.dtype = out->dtype;
  StridedLayout<2> L = make_layout<2>({in.get(), &out_view});

  int64_t nd = static_cast<int64_t>(L.shape.size());
  if (nd == 2 && L.strides[0][1] == 0 && L.strides[1][0] == sizeof(T) && L.strides[1][1] == sizeof(T)) {
    reduce_columns<T, Op>(reinterpret_cast<T*>(L.base[1]), L.base[0], L.shape[0], L.strides[0][0], L.shape[1]);
    return;
  }
  // Split the work over an outer dim whose outputs are distinct per index.
  int64_t split = -1;
  for (int64_t d = 0; d < nd; ++d)
    if (L.strides[d][1] != 0) {
      split = d;
      break;
    }
  if (nd > 0 && split == 0 && L.numel >= kMemoryBoundGrain) {
    parallel_for(L.shape[0], std::max<int64_t>(1, L.shape[0] * kMemoryBoundGrain / L.numel), [&](int64_t b, int64_t e) {
      StridedLayout<2> sub = L;
      sub.shape[0] = e - b;
      sub.numel = L.numel / L.shape[0] * (e - b);
      for (int k = 0; k < 2; ++k) sub.base[k] += b * L.strides[0][k];
      reduce_walk<T, Op>(sub);
    });
    return;
  }
  if (nd > 0 && split > 0 && L.numel >= 2 * kMemoryBoundGrain) {
    // Outer reduction (e.g. a column sum): threads take disjoint ranges of
    // the kept dim and each streams all reduced rows over its range.
    parallel_for(L.shape[split], std::max<int64_t>(1, L.shape[split] * kMemoryBoundGrain / L.numel),
                 [&](int64_t b, int64_t e) {
                   StridedLayout<2> sub = L;
                   sub.shape[split] = e - b;
                   sub.numel = L.numel / L.shape[split] * (e - b);
                   for (int k = 0; k < 2; ++k) sub.base[k] += b * L.strides[split][k];
                   reduce_walk<T, Op>(sub);
                 });
    return;
  }
  if (split < 0 && in->is_contiguous()) {
    *out->data<T>() = Op::combine(Op::identity(), reduce_contiguous<T, Op>(in->data<T>(), L.numel));
    return;
  }
  reduce_walk<T, Op>(L);
}

}  // namespace

void reduce(ReduceOp op, const Tensor& out, const Tensor& in) {
  if (op == ReduceOp::Any) return reduce_typed<bool, AnyOp>(out, in);
  if (op == ReduceOp::All) return reduce_typed<bool, AllOp>(out, in);
  dispatch_dtype(in->dtype, "reduction", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      throw TypeError("reduction over bool tensors must go through an integer dtype");
    } else {
      switch (op) {
        case ReduceOp::Sum: return reduce_typed<T, SumOp<T>>(out, in);
        case ReduceOp::Prod: return reduce_typed<T, ProdOp<T>>(out, in);
        case ReduceOp::Max: return reduce_typed<T, ExtremumOp<T, true>>(out, in);
        case ReduceOp::Min: return reduce_typed<T, ExtremumOp<T, false>>(out, in);
        default: break;
      }
    }
  });
}

void arg_reduce(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& in) {
  dispatch_dtype(in->dtype, "max/min", [&](auto tag) {
    using T = decltype(tag);
    int64_t outer = in->shape[0], n = in->shape[1];
    const T* x = in->data<T>();
    T* v = values->data<T>();
    int64_t* idx = indices->data<int64_t>();
    parallel_for(outer, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const T* row = x + o * n;
        T best = row[0];
        int64_t best_i = 0;
        for (int64_t i = 1; i < n; ++i) {
          T c = row[i];
          if constexpr (std::is_floating_point_v<T>) {
            if (std::isnan(best)) break;
            if (std::isnan(c)) {
              best = c;
              best_i = i;
              break;
            }
          }
          if (is_max ? c > best : c < best) {
            best = c;
            best_i = i;
          }
        }
        v[o] = best;
        idx[o] = best_i;
      }
    });
  });
}

void cumsum(const Tensor& out, const Tensor& in, int64_t dim) {
  dispatch_dtype(in->dtype, "cumsum", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      throw TypeError("cumsum over bool tensors must go through an integer dtype");
    } else {
      // Walk every line along `dim`: iterate the tensors with `dim` removed.
      auto drop = [dim](const Tensor& t) {
        TensorImpl v;
        v.storage = t->storage;
        v.offset = t->offset;
        v.dtype = t->dtype;
        for (int64_t d = 0; d < t->ndim(); ++d)
          if (d != dim) {
            v.shape.push_back(t->shape[d]);
            v.strides.push_back(t->strides[d]);
          }
        return v;
      };
      TensorImpl o = drop(out), i = drop(in);
      int64_t n = in->shape[dim];
      int64_t so = out->strides[dim] * int64_t(sizeof(T)), si = in->strides[dim] * int64_t(sizeof(T));
      for_each_run<2>({&o, &i}, [=](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t m) {
        for (int64_t j = 0; j < m; ++j) {
          char* po = p[0] + j * s[0];
          const char* pi = p[1] + j * s[1];
          T acc = T(0);
          for (int64_t k = 0; k < n; ++k) {
            acc = T(acc + *reinterpret_cast<const T*>(pi + k * si));
            *reinterpret_cast<T*>(po + k * so) = acc;
          }
        }
      });
    }
  });
}

}  // namespace ember::cpu
