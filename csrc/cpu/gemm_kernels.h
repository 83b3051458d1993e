// The GEMM micro-kernels, included by gemm.cpp only: AVX2+FMA (compiled per
// function with target attributes, so nothing else in the build needs
// -mavx2) and a portable one the compiler may auto-vectorise. gemm.cpp does
// the packing, blocking and scheduling around them.
#pragma once
#include <cstdint>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define EMBER_GEMM_X86 1
#include <immintrin.h>
#else
#define EMBER_GEMM_X86 0
#endif

namespace ember::cpu {

// ---------------------------------------------------------------------------
// Micro-kernel contract. Computes an mr x NR tile (mr = kernel's row count):
//   a:   packed A panel, element (i, p) at a[p * MR + i]
//   b:   B panel, element (p, j) at b[p * ldb + j]; always NR readable columns
//        (zero-padded when packed, or the real matrix when it is wide enough)
//   c:   C tile at c[i * rsc + j * csc]; only the first nr columns are written
//   add: false -> C = AB (C is never read), true -> C += AB
template <class T>
using MicroKernel = void (*)(int64_t kc, const T* a, const T* b, int64_t ldb, T* c, int64_t rsc,
                             int64_t csc, int nr, bool add);
// The same tile with B's rows given by an offset table instead of a stride:
// row p at base + offs[p] (a convolution's shifted image rows, read where
// they lie: see gemm_indexed_b in gemm.h).
template <class T>
using IndexedMicroKernel = void (*)(int64_t kc, const T* a, const T* base, const int32_t* offs, T* c,
                                    int64_t rsc, int64_t csc, int nr, bool add);

// Where B's row p starts, for the kernel bodies below (templates on it, so
// each kind of B compiles to its own straight-line loop).
template <class T>
struct StridedRows {
  const T* b;
  int64_t ldb;
  const T* operator()(int64_t p) const { return b + p * ldb; }
};
template <class T>
struct IndexedRows {
  const T* base;
  const int32_t* offs;
  const T* operator()(int64_t p) const { return base + offs[p]; }
};

// Writes a finished tile held in tmp[MROWS][NR] to C. Used for edge tiles and
// non-unit column strides, where vector stores would overrun or mis-stride.
template <class T, int NR>
inline void store_tile_scalar(const T* tmp, int mrows, int nr, T* c, int64_t rsc, int64_t csc,
                              bool add) {
  for (int i = 0; i < mrows; ++i) {
    T* ci = c + i * rsc;
    const T* ti = tmp + i * NR;
    if (add) {
      for (int j = 0; j < nr; ++j) ci[j * csc] += ti[j];
    } else {
      for (int j = 0; j < nr; ++j) ci[j * csc] = ti[j];
    }
  }
}

// Portable kernel: small enough (MR*NR accumulators) for SSE2's 16 registers
// after auto-vectorisation; only used on CPUs without AVX2+FMA.
template <class T, int MR, int NR, int MROWS, class Rows>
void kernel_generic_rows(int64_t kc, const T* a, Rows rows, T* c, int64_t rsc, int64_t csc, int nr, bool add) {
  // Fully unrolled with constant indices so the accumulators live in
  // registers; `out` is the only array whose address escapes.
  T acc[MROWS][NR] = {};
  for (int64_t p = 0; p < kc; ++p) {
    const T* bp = rows(p);
    const T* ap = a + p * MR;
#pragma GCC unroll 8
    for (int i = 0; i < MROWS; ++i) {
      const T ai = ap[i];
#pragma GCC unroll 16
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * bp[j];
    }
  }
  T out[MROWS * NR];
#pragma GCC unroll 8
  for (int i = 0; i < MROWS; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < NR; ++j) out[i * NR + j] = acc[i][j];
  store_tile_scalar<T, NR>(out, MROWS, nr, c, rsc, csc, add);
}
template <class T, int MR, int NR, int MROWS>
void kernel_generic(int64_t kc, const T* a, const T* b, int64_t ldb, T* c, int64_t rsc, int64_t csc, int nr,
                    bool add) {
  kernel_generic_rows<T, MR, NR, MROWS>(kc, a, StridedRows<T>{b, ldb}, c, rsc, csc, nr, add);
}
template <class T, int MR, int NR, int MROWS>
void kernel_generic_indexed(int64_t kc, const T* a, const T* base, const int32_t* offs, T* c, int64_t rsc,
                            int64_t csc, int nr, bool add) {
  kernel_generic_rows<T, MR, NR, MROWS>(kc, a, IndexedRows<T>{base, offs}, c, rsc, csc, nr, add);
}

#if EMBER_GEMM_X86

// AVX2 f32 kernel, 6x16: 12 ymm accumulators + 2 for the B row + 1 broadcast
// = 15 of 16 registers, and 12 independent FMA chains hide FMA latency on
// two FMA pipes. Fewer rows (edge panels) reuse the same code with MROWS < 6.
template <int MROWS, class Rows>
__attribute__((target("avx2,fma"))) void kernel_f32_avx2_rows(int64_t kc, const float* a, Rows rows,
                                                               float* c, int64_t rsc, int64_t csc,
                                                               int nr, bool add) {
  constexpr int MR = 6, NR = 16;
  __m256 c0[MROWS], c1[MROWS];
#pragma GCC unroll 6
  for (int i = 0; i < MROWS; ++i) {
    c0[i] = _mm256_setzero_ps();
    c1[i] = _mm256_setzero_ps();
  }
  // Pull the C tile toward L1 while the k loop runs, so the final
  // read-modify-write doesn't stall on memory.
  if (csc == 1) {
#pragma GCC unroll 6
    for (int i = 0; i < MROWS; ++i) {
      _mm_prefetch(reinterpret_cast<const char*>(c + i * rsc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + i * rsc + 15), _MM_HINT_T0);
    }
  }
  int64_t p = 0;
  if constexpr (MROWS <= 2) {
    // One or two rows give only 2-4 independent FMA chains, so FMA latency,
    // not throughput, would bound small-batch products. A second accumulator
    // set for odd k doubles the chains (and still fits in registers).
    __m256 d0[MROWS], d1[MROWS];
#pragma GCC unroll 2
    for (int i = 0; i < MROWS; ++i) {
      d0[i] = _mm256_setzero_ps();
      d1[i] = _mm256_setzero_ps();
    }
    for (; p + 2 <= kc; p += 2) {
      const float* r0 = rows(p);
      const float* r1 = rows(p + 1);
      const __m256 b0 = _mm256_loadu_ps(r0), b1 = _mm256_loadu_ps(r0 + 8);
      const __m256 b2 = _mm256_loadu_ps(r1), b3 = _mm256_loadu_ps(r1 + 8);
#pragma GCC unroll 2
      for (int i = 0; i < MROWS; ++i) {
        const __m256 ai = _mm256_broadcast_ss(a + i), aj = _mm256_broadcast_ss(a + MR + i);
        c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
        c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
        d0[i] = _mm256_fmadd_ps(aj, b2, d0[i]);
        d1[i] = _mm256_fmadd_ps(aj, b3, d1[i]);
      }
      a += 2 * MR;
    }
#pragma GCC unroll 2
    for (int i = 0; i < MROWS; ++i) {
      c0[i] = _mm256_add_ps(c0[i], d0[i]);
      c1[i] = _mm256_add_ps(c1[i], d1[i]);
    }
  }
#pragma GCC unroll 4
  for (; p < kc; ++p) {
    const float* r = rows(p);
    const __m256 b0 = _mm256_loadu_ps(r);
    const __m256 b1 = _mm256_loadu_ps(r + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MROWS; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
    }
    a += MR;
  }
  if (nr == NR && csc == 1) {
#pragma GCC unroll 6
    for (int i = 0; i < MROWS; ++i) {
      float* ci = c + i * rsc;
      if (add) {
        c0[i] = _mm256_add_ps(c0[i], _mm256_loadu_ps(ci));
        c1[i] = _mm256_add_ps(c1[i], _mm256_loadu_ps(ci + 8));
      }
      _mm256_storeu_ps(ci, c0[i]);
      _mm256_storeu_ps(ci + 8, c1[i]);
    }
  } else {
    alignas(32) float tmp[MROWS * NR];
    // Fully unrolled like every loop over the accumulators: a single
    // variable index would force GCC to keep them in memory.
#pragma GCC unroll 6
    for (int i = 0; i < MROWS; ++i) {
      _mm256_store_ps(tmp + i * NR, c0[i]);
      _mm256_store_ps(tmp + i * NR + 8, c1[i]);
    }
    store_tile_scalar<float, NR>(tmp, MROWS, nr, c, rsc, csc, add);
  }
}
template <int MROWS>
__attribute__((target("avx2,fma"))) void kernel_f32_avx2(int64_t kc, const float* a, const float* b, int64_t ldb, float* c,
                                                          int64_t rsc, int64_t csc, int nr, bool add) {
  kernel_f32_avx2_rows<MROWS>(kc, a, StridedRows<float>{b, ldb}, c, rsc, csc, nr, add);
}
template <int MROWS>
__attribute__((target("avx2,fma"))) void kernel_f32_avx2_indexed(int64_t kc, const float* a, const float* base, const int32_t* offs,
                                                                  float* c, int64_t rsc, int64_t csc, int nr, bool add) {
  kernel_f32_avx2_rows<MROWS>(kc, a, IndexedRows<float>{base, offs}, c, rsc, csc, nr, add);
}

// AVX2 f64 kernel, 6x8: same register budget as the f32 one (4 doubles/ymm).
template <int MROWS, class Rows>
__attribute__((target("avx2,fma"))) void kernel_f64_avx2_rows(int64_t kc, const double* a, Rows rows,
                                                               double* c, int64_t rsc, int64_t csc,
                                                               int nr, bool add) {
  constexpr int MR = 6, NR = 8;
  __m256d c0[MROWS], c1[MROWS];
#pragma GCC unroll 6
  for (int i = 0; i < MROWS; ++i) {
    c0[i] = _mm256_setzero_pd();
    c1[i] = _mm256_setzero_pd();
  }
  if (csc == 1) {
#pragma GCC unroll 6
    for (int i = 0; i < MROWS; ++i) {
      _mm_prefetch(reinterpret_cast<const char*>(c + i * rsc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + i * rsc + 7), _MM_HINT_T0);
    }
  }
  int64_t p = 0;
  if constexpr (MROWS <= 2) {
    // One or two rows give only 2-4 independent FMA chains, so FMA latency,
    // not throughput, would bound small-batch products. A second accumulator
    // set for odd k doubles the chains (and still fits in registers).
    __m256d d0[MROWS], d1[MROWS];
#pragma GCC unroll 2
    for (int i = 0; i < MROWS; ++i) {
      d0[i] = _mm256_setzero_pd();
      d1[i] = _mm256_setzero_pd();
    }
    for (; p + 2 <= kc; p += 2) {
      const double* r0 = rows(p);
      const double* r1 = rows(p + 1);
      const __m256d b0 = _mm256_loadu_pd(r0), b1 = _mm256_loadu_pd(r0 + 4);
      const __m256d b2 = _mm256_loadu_pd(r1), b3 = _mm256_loadu_pd(r1 + 4);
#pragma GCC unroll 2
      for (int i = 0; i < MROWS; ++i) {
        const __m256d ai = _mm256_broadcast_sd(a + i), aj = _mm256_broadcast_sd(a + MR + i);
        c0[i] = _mm256_fmadd_pd(ai, b0, c0[i]);
        c1[i] = _mm256_fmadd_pd(ai, b1, c1[i]);
        d0[i] = _mm256_fmadd_pd(aj, b2, d0[i]);
        d1[i] = _mm256_fmadd_pd(aj, b3, d1[i]);
      }
      a += 2 * MR;
    }
#pragma GCC unroll 2
    for (int i = 0; i < MROWS; ++i) {
      c0[i] = _mm256_add_pd(c0[i], d0[i]);
      c1[i] = _mm256_add_pd(c1[i], d1[i]);
    }
  }
#pragma GCC unroll 4
  for (; p < kc; ++p) {
    const double* r = rows(p);
    const __m256d b0 = _mm256_loadu_pd(r);
    const __m256d b1 = _mm256_loadu_pd(r + 4);
#pragma GCC unroll 6
    for (int i = 0; i < MROWS; ++i) {
      const __m256d ai = _mm256_broadcast_sd(a + i);
      c0[i] = _mm256_fmadd_pd(ai, b0, c0[i]);
      c1[i] = _mm256_fmadd_pd(ai, b1, c1[i]);
    }
    a += MR;
  }
  if (nr == NR && csc == 1) {
#pragma GCC unroll 6
    for (int i = 0; i < MROWS; ++i) {
      double* ci = c + i * rsc;
      if (add) {
        c0[i] = _mm256_add_pd(c0[i], _mm256_loadu_pd(ci));
        c1[i] = _mm256_add_pd(c1[i], _mm256_loadu_pd(ci + 4));
      }
      _mm256_storeu_pd(ci, c0[i]);
      _mm256_storeu_pd(ci + 4, c1[i]);
    }
  } else {
    alignas(32) double tmp[MROWS * NR];
    // Fully unrolled like every loop over the accumulators: a single
    // variable index would force GCC to keep them in memory.
#pragma GCC unroll 6
    for (int i = 0; i < MROWS; ++i) {
      _mm256_store_pd(tmp + i * NR, c0[i]);
      _mm256_store_pd(tmp + i * NR + 4, c1[i]);
    }
    store_tile_scalar<double, NR>(tmp, MROWS, nr, c, rsc, csc, add);
  }
}
template <int MROWS>
__attribute__((target("avx2,fma"))) void kernel_f64_avx2(int64_t kc, const double* a, const double* b, int64_t ldb, double* c,
                                                          int64_t rsc, int64_t csc, int nr, bool add) {
  kernel_f64_avx2_rows<MROWS>(kc, a, StridedRows<double>{b, ldb}, c, rsc, csc, nr, add);
}
template <int MROWS>
__attribute__((target("avx2,fma"))) void kernel_f64_avx2_indexed(int64_t kc, const double* a, const double* base, const int32_t* offs,
                                                                  double* c, int64_t rsc, int64_t csc, int nr, bool add) {
  kernel_f64_avx2_rows<MROWS>(kc, a, IndexedRows<double>{base, offs}, c, rsc, csc, nr, add);
}

#endif  // EMBER_GEMM_X86

}  // namespace ember::cpu
