// gemm_rows.cpp — see gemm_rows.h. Output tiles of up to 3 x 4 dot
// products: per step, 3 rows of A and 4 of B are loaded once and feed 12
// independent vector accumulators (16 AVX2 registers with the loads), enough
// chains to hide the FMA latency on two pipes.
#include "gemm_rows.h"

#include <algorithm>

#include <cstring>

#include "gemm.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define EMBER_ROWS_X86 1
#include <immintrin.h>
#else
#define EMBER_ROWS_X86 0
#endif

namespace ember::cpu {
namespace {

constexpr int kTileRows = 3, kTileCols = 4;

template <class T>
inline void store(T* c, T value, bool add) {
  *c = add ? *c + value : value;
}

// Portable tile: 8 partial sums per output (vectorizable without
// reassociating), then the tail.
template <class T, int MB, int NB>
void rows_tile_generic(int64_t L, const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc, bool add) {
  constexpr int kLanes = 8;
  T acc[MB][NB][kLanes] = {};
  int64_t l = 0;
  for (; l + kLanes <= L; l += kLanes)
    for (int i = 0; i < MB; ++i)
      for (int j = 0; j < NB; ++j)
        for (int v = 0; v < kLanes; ++v) acc[i][j][v] += A[i * lda + l + v] * B[j * ldb + l + v];
  for (int i = 0; i < MB; ++i)
    for (int j = 0; j < NB; ++j) {
      T s = T(0);
      for (int v = 0; v < kLanes; ++v) s += acc[i][j][v];
      for (int64_t t = l; t < L; ++t) s += A[i * lda + t] * B[j * ldb + t];
      store(C + i * ldc + j, s, add);
    }
}

#if EMBER_ROWS_X86
__attribute__((target("avx2,fma"))) inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}
__attribute__((target("avx2,fma"))) inline double hsum(__m256d v) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

template <class T>
struct Avx2;
template <>
struct Avx2<float> {
  using V = __m256;
  static constexpr int kLanes = 8;
  __attribute__((target("avx2,fma"))) static V zero() { return _mm256_setzero_ps(); }
  __attribute__((target("avx2,fma"))) static V load(const float* p) { return _mm256_loadu_ps(p); }
  __attribute__((target("avx2,fma"))) static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
};
template <>
struct Avx2<double> {
  using V = __m256d;
  static constexpr int kLanes = 4;
  __attribute__((target("avx2,fma"))) static V zero() { return _mm256_setzero_pd(); }
  __attribute__((target("avx2,fma"))) static V load(const double* p) { return _mm256_loadu_pd(p); }
  __attribute__((target("avx2,fma"))) static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
};

template <class T, int MB, int NB>
__attribute__((target("avx2,fma"))) void rows_tile_avx2(int64_t L, const T* A, int64_t lda, const T* B, int64_t ldb,
                                                        T* C, int64_t ldc, bool add) {
  using S = Avx2<T>;
  typename S::V acc[MB][NB];
#pragma GCC unroll 4
  for (int i = 0; i < MB; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) acc[i][j] = S::zero();
  int64_t l = 0;
  for (; l + S::kLanes <= L; l += S::kLanes) {
    typename S::V a[MB];
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) a[i] = S::load(A + i * lda + l);
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) {
      const typename S::V b = S::load(B + j * ldb + l);
#pragma GCC unroll 4
      for (int i = 0; i < MB; ++i) acc[i][j] = S::fma(a[i], b, acc[i][j]);
    }
  }
  for (int i = 0; i < MB; ++i)
    for (int j = 0; j < NB; ++j) {
      T s = hsum(acc[i][j]);
      for (int64_t t = l; t < L; ++t) s += A[i * lda + t] * B[j * ldb + t];
      store(C + i * ldc + j, s, add);
    }
}
#endif

template <class T>
using Tile = void (*)(int64_t, const T*, int64_t, const T*, int64_t, T*, int64_t, bool);

// table[mb - 1][nb - 1] computes an mb x nb tile.
template <class T>
Tile<T> generic_tile(int mb, int nb) {
  static const Tile<T> table[kTileRows][kTileCols] = {
      {rows_tile_generic<T, 1, 1>, rows_tile_generic<T, 1, 2>, rows_tile_generic<T, 1, 3>, rows_tile_generic<T, 1, 4>},
      {rows_tile_generic<T, 2, 1>, rows_tile_generic<T, 2, 2>, rows_tile_generic<T, 2, 3>, rows_tile_generic<T, 2, 4>},
      {rows_tile_generic<T, 3, 1>, rows_tile_generic<T, 3, 2>, rows_tile_generic<T, 3, 3>, rows_tile_generic<T, 3, 4>}};
  return table[mb - 1][nb - 1];
}

#if EMBER_ROWS_X86
template <class T>
Tile<T> avx2_tile(int mb, int nb) {
  static const Tile<T> table[kTileRows][kTileCols] = {
      {rows_tile_avx2<T, 1, 1>, rows_tile_avx2<T, 1, 2>, rows_tile_avx2<T, 1, 3>, rows_tile_avx2<T, 1, 4>},
      {rows_tile_avx2<T, 2, 1>, rows_tile_avx2<T, 2, 2>, rows_tile_avx2<T, 2, 3>, rows_tile_avx2<T, 2, 4>},
      {rows_tile_avx2<T, 3, 1>, rows_tile_avx2<T, 3, 2>, rows_tile_avx2<T, 3, 3>, rows_tile_avx2<T, 3, 4>}};
  return table[mb - 1][nb - 1];
}
#endif

template <class T>
void gemm_rows_impl(int64_t M, int64_t N, int64_t L, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
                    int64_t ldc, bool accumulate) {
#if EMBER_ROWS_X86
  // The GEMM's choice, so that EMBER_CPU_KERNELS=baseline and its test hook apply here too.
  const bool use_avx2 = std::strcmp(gemm_kernel_name(), "avx2") == 0;
#endif
  for (int64_t i = 0; i < M; i += kTileRows) {
    const int mb = static_cast<int>(std::min<int64_t>(kTileRows, M - i));
    for (int64_t j = 0; j < N; j += kTileCols) {
      const int nb = static_cast<int>(std::min<int64_t>(kTileCols, N - j));
#if EMBER_ROWS_X86
      const Tile<T> tile = use_avx2 ? avx2_tile<T>(mb, nb) : generic_tile<T>(mb, nb);
#else
      const Tile<T> tile = generic_tile<T>(mb, nb);
#endif
      tile(L, A + i * lda, lda, B + j * ldb, ldb, C + i * ldc + j, ldc, accumulate);
    }
  }
}

}  // namespace

void gemm_rows_f32(int64_t M, int64_t N, int64_t L, const float* A, int64_t lda, const float* B, int64_t ldb,
                   float* C, int64_t ldc, bool accumulate) {
  gemm_rows_impl(M, N, L, A, lda, B, ldb, C, ldc, accumulate);
}

void gemm_rows_f64(int64_t M, int64_t N, int64_t L, const double* A, int64_t lda, const double* B, int64_t ldb,
                   double* C, int64_t ldc, bool accumulate) {
  gemm_rows_impl(M, N, L, A, lda, B, ldb, C, ldc, accumulate);
}

}  // namespace ember::cpu
