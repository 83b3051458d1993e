// test_gemm.cpp — GoogleTest checks of ember::cpu::gemm_f32/gemm_f64 against a
// naive triple loop accumulated in double.
//
// Covers ragged sizes around every tile/block boundary, K=0, M/N=0, row-major,
// column-major (transposed) and generally strided operands, accumulate on and
// off, both micro-kernels (AVX2 and the portable fallback), multi-block and
// multi-threaded sizes, concurrent callers, and the implicit-B driver (B
// packed block by block by the caller, C segmented across images), and
// gemm_rows (A . B^T along contiguous rows) and the indexed-B driver (B's
// rows at offsets into one buffer).
//
// Built by CMake as `test_gemm` (links ember_core), or standalone:
//   g++ -O2 -fopenmp -std=c++17 csrc/cpu/gemm.cpp csrc/cpu/gemm_rows.cpp tests/cpp/test_gemm.cpp
//       -lgtest -lgtest_main -pthread
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../../csrc/cpu/gemm.h"
#include "../../csrc/cpu/gemm_rows.h"

namespace {

using ember::cpu::gemm_f32;
using ember::cpu::gemm_f64;

void gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsa, int64_t csa,
          const float* B, int64_t rsb, int64_t csb, float* C, int64_t rsc, int64_t csc, bool acc) {
  gemm_f32(M, N, K, A, rsa, csa, B, rsb, csb, C, rsc, csc, acc);
}
void gemm(int64_t M, int64_t N, int64_t K, const double* A, int64_t rsa, int64_t csa,
          const double* B, int64_t rsb, int64_t csb, double* C, int64_t rsc, int64_t csc,
          bool acc) {
  gemm_f64(M, N, K, A, rsa, csa, B, rsb, csb, C, rsc, csc, acc);
}

// How a rows x cols matrix is laid out in its buffer.
enum class Layout { Row, Col, Strided, PaddedRow };

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::Row: return "row";
    case Layout::Col: return "col";
    case Layout::Strided: return "strided";
    case Layout::PaddedRow: return "padded";
  }
  return "?";
}

// A matrix view over its own buffer; strides chosen by layout.
template <class T>
struct Mat {
  int64_t rows = 0, cols = 0, rs = 0, cs = 0;
  std::vector<T> buf;

  Mat(int64_t r, int64_t c, Layout l) : rows(r), cols(c) {
    switch (l) {
      case Layout::Row: rs = c; cs = 1; break;
      case Layout::Col: rs = 1; cs = r; break;
      // Neither stride is 1, so every element is gathered.
      case Layout::Strided: cs = 3; rs = 3 * c + 2; break;
      // Row-major slice of a wider matrix (leading dimension > cols).
      case Layout::PaddedRow: rs = c + 5; cs = 1; break;
    }
    const int64_t span = (r > 0 && c > 0) ? (r - 1) * rs + (c - 1) * cs + 1 : 0;
    // Exactly the span (no slack) so AddressSanitizer builds catch overreads.
    buf.assign(static_cast<size_t>(std::max<int64_t>(span, 1)), T(0));
  }
  T& at(int64_t i, int64_t j) { return buf[static_cast<size_t>(i * rs + j * cs)]; }
  T* data() { return buf.data(); }
};

// Uniform in [-1, 1] but bounded away from zero in magnitude so inputs are
// never all-zero and every product contributes.
template <class T>
void fill_random(Mat<T>& m, std::mt19937& rng) {
  std::uniform_real_distribution<double> mag(0.1, 1.0);
  std::bernoulli_distribution neg(0.5);
  for (int64_t i = 0; i < m.rows; ++i)
    for (int64_t j = 0; j < m.cols; ++j) {
      const double v = mag(rng);
      m.at(i, j) = static_cast<T>(neg(rng) ? -v : v);
    }
}

// c0 + (A @ B)(i, j) in double, and the sum of the magnitudes (for the tolerance).
template <class T>
double reference(Mat<T>& A, Mat<T>& B, int64_t i, int64_t j, int64_t K, double c0, double& mag) {
  double ref = c0;
  mag = std::fabs(c0);
  for (int64_t k = 0; k < K; ++k) {
    const double prod = static_cast<double>(A.at(i, k)) * static_cast<double>(B.at(k, j));
    ref += prod;
    mag += std::fabs(prod);
  }
  return ref;
}

// Runs one case and compares every element of C against a double-precision
// reference, with a tolerance scaled by the dot-product length.
template <class T>
void check_case(int64_t M, int64_t N, int64_t K, Layout la, Layout lb, Layout lc, bool accumulate,
                uint32_t seed = 1234) {
  SCOPED_TRACE("M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K) +
               " A=" + layout_name(la) + " B=" + layout_name(lb) + " C=" + layout_name(lc) +
               " acc=" + std::to_string(accumulate));
  std::mt19937 rng(seed + static_cast<uint32_t>(M * 131 + N * 17 + K));
  Mat<T> A(M, K, la), B(K, N, lb), C(M, N, lc);
  fill_random(A, rng);
  fill_random(B, rng);
  std::vector<double> c0(static_cast<size_t>(M * N), 0.0);
  if (accumulate) {
    fill_random(C, rng);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) c0[i * N + j] = C.at(i, j);
  } else {
    // gemm must not read C when overwriting: NaN here would poison the result.
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C.at(i, j) = std::numeric_limits<T>::quiet_NaN();
  }
  // Sentinel in the gaps between strided C elements: must stay untouched.
  const T sentinel = T(12345);
  std::vector<bool> is_elem(C.buf.size(), false);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) is_elem[i * C.rs + j * C.cs] = true;
  for (size_t e = 0; e < C.buf.size(); ++e)
    if (!is_elem[e]) C.buf[e] = sentinel;

  gemm(M, N, K, A.data(), A.rs, A.cs, B.data(), B.rs, B.cs, C.data(), C.rs, C.cs, accumulate);

  const double eps = std::numeric_limits<T>::epsilon();
  int64_t bad = 0;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double mag;
      const double ref = reference(A, B, i, j, K, c0[i * N + j], mag);
      const double got = C.at(i, j);
      const double tol = 2.0 * eps * static_cast<double>(K + 2) * mag + 1e-300;
      if (!(std::fabs(got - ref) <= tol)) {
        if (++bad <= 5)
          ADD_FAILURE() << "C(" << i << "," << j << ") = " << got << ", expected " << ref
                        << " (tol " << tol << ")";
      }
    }
  }
  EXPECT_EQ(bad, 0);
  for (size_t e = 0; e < C.buf.size(); ++e) {
    if (!is_elem[e]) {
      ASSERT_EQ(C.buf[e], sentinel) << "wrote outside C at buffer index " << e;
    }
  }
}

// Runs a test body once per micro-kernel the CPU supports, then restores auto.
template <class F>
void for_each_kernel(F&& body) {
  for (const char* k : {"auto", "generic"}) {
    ASSERT_TRUE(ember::cpu::gemm_select_kernel(k));
    SCOPED_TRACE(std::string("kernel=") + ember::cpu::gemm_kernel_name());
    body();
  }
  ember::cpu::gemm_select_kernel("auto");
}

const int64_t kOddSizes[] = {1, 3, 7, 17, 63, 65, 129};

template <class T>
class GemmTest : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(GemmTest, Types);

TYPED_TEST(GemmTest, OddSizesRowMajor) {
  for_each_kernel([] {
    for (int64_t M : kOddSizes)
      for (int64_t N : kOddSizes)
        for (int64_t K : kOddSizes)
          check_case<TypeParam>(M, N, K, Layout::Row, Layout::Row, Layout::Row, false);
  });
}

TYPED_TEST(GemmTest, OddSizesAccumulate) {
  for_each_kernel([] {
    for (int64_t M : {1, 7, 65})
      for (int64_t N : kOddSizes)
        for (int64_t K : {1, 17, 129})
          check_case<TypeParam>(M, N, K, Layout::Row, Layout::Row, Layout::Row, true);
  });
}

TYPED_TEST(GemmTest, AllLayoutCombinations) {
  const Layout all[] = {Layout::Row, Layout::Col, Layout::Strided, Layout::PaddedRow};
  for_each_kernel([&] {
    for (Layout la : all)
      for (Layout lb : all)
        for (Layout lc : all)
          for (bool acc : {false, true}) {
            // Small M takes the unpacked-B path, larger M the packed one.
            check_case<TypeParam>(5, 19, 23, la, lb, lc, acc);
            check_case<TypeParam>(37, 33, 70, la, lb, lc, acc);
          }
  });
}

TYPED_TEST(GemmTest, LargerThanOneCacheBlock) {
  // Crosses the KC (256; 512 for AVX2 float32) and MC boundaries and is large
  // enough to run multi-threaded; sizes are one past round numbers to leave
  // ragged edges.
  check_case<TypeParam>(257, 129, 300, Layout::Row, Layout::Row, Layout::Row, false);
  check_case<TypeParam>(257, 129, 300, Layout::Col, Layout::Col, Layout::Row, true);
  check_case<TypeParam>(200, 257, 513, Layout::Row, Layout::Col, Layout::Col, false);
  check_case<TypeParam>(4, 1000, 300, Layout::Row, Layout::Row, Layout::Row, false);
  check_case<TypeParam>(1000, 4, 300, Layout::Row, Layout::Row, Layout::Row, true);
}

TYPED_TEST(GemmTest, ColumnsSplitBetweenThreads) {
  // M, N, K >= 256 with N >= 512: threads take column ranges with private
  // packing buffers. Ragged edges in every dimension, K beyond two KC slices
  // (256 or 512), every operand layout, and accumulation.
  check_case<TypeParam>(301, 777, 1030, Layout::Row, Layout::Row, Layout::Row, false);
  check_case<TypeParam>(301, 777, 1030, Layout::Col, Layout::Row, Layout::Row, true);
  check_case<TypeParam>(263, 530, 517, Layout::Row, Layout::Col, Layout::Row, false);
  check_case<TypeParam>(530, 263, 517, Layout::Row, Layout::Row, Layout::Col, true);
}

TYPED_TEST(GemmTest, WiderThanNC) {
  // N beyond the NC block (4096 for f32, 2048 for f64) exercises the jc loop.
  check_case<TypeParam>(13, 4200, 40, Layout::Row, Layout::Row, Layout::Row, false);
  check_case<TypeParam>(30, 4200, 40, Layout::Row, Layout::Col, Layout::Row, true);
}

TYPED_TEST(GemmTest, Vectors) {
  for_each_kernel([] {
    check_case<TypeParam>(1, 1, 1, Layout::Row, Layout::Row, Layout::Row, false);
    check_case<TypeParam>(1, 1, 1000, Layout::Strided, Layout::Strided, Layout::Strided, true);
    check_case<TypeParam>(1, 300, 50, Layout::Row, Layout::Row, Layout::Strided, false);
    check_case<TypeParam>(300, 1, 50, Layout::Row, Layout::Col, Layout::Strided, false);
    check_case<TypeParam>(300, 50, 1, Layout::Col, Layout::Row, Layout::Col, true);
  });
}

TYPED_TEST(GemmTest, TinyMlpShapes) {
  // Batch-2 forward and backward shapes of a 20 -> 256 -> 10 MLP.
  check_case<TypeParam>(2, 256, 20, Layout::Row, Layout::Row, Layout::Row, false);
  check_case<TypeParam>(2, 256, 20, Layout::Row, Layout::Col, Layout::Row, false);  // x @ W.T
  check_case<TypeParam>(2, 10, 256, Layout::Row, Layout::Col, Layout::Row, false);
  check_case<TypeParam>(256, 20, 2, Layout::Col, Layout::Row, Layout::Row, true);   // dW += g.T @ x
  check_case<TypeParam>(2, 20, 256, Layout::Row, Layout::Row, Layout::Row, false);  // dx = g @ W
}

TYPED_TEST(GemmTest, KZeroOverwritesWithZeros) {
  using T = TypeParam;
  const int64_t M = 7, N = 9;
  std::vector<T> C(M * N, std::numeric_limits<T>::quiet_NaN());
  T dummy = T(1);
  gemm(M, N, 0, &dummy, 0, 1, &dummy, N, 1, C.data(), N, 1, false);
  for (T v : C) EXPECT_EQ(v, T(0));
}

TYPED_TEST(GemmTest, KZeroAccumulateLeavesC) {
  using T = TypeParam;
  const int64_t M = 7, N = 9;
  std::vector<T> C(M * N);
  for (size_t i = 0; i < C.size(); ++i) C[i] = static_cast<T>(i) + T(0.5);
  const std::vector<T> before = C;
  T dummy = T(1);
  gemm(M, N, 0, &dummy, 0, 1, &dummy, N, 1, C.data(), 1, M, true);
  EXPECT_EQ(C, before);
}

TYPED_TEST(GemmTest, EmptyMOrNDoesNothing) {
  using T = TypeParam;
  std::vector<T> C(16, T(7));
  std::vector<T> A(64, T(1)), B(64, T(1));
  gemm(0, 4, 4, A.data(), 4, 1, B.data(), 4, 1, C.data(), 4, 1, false);
  gemm(4, 0, 4, A.data(), 4, 1, B.data(), 4, 1, C.data(), 4, 1, false);
  gemm(0, 0, 0, static_cast<const T*>(nullptr), 0, 0, static_cast<const T*>(nullptr), 0, 0,
       static_cast<T*>(nullptr), 0, 0, false);
  for (T v : C) EXPECT_EQ(v, T(7));
}

TYPED_TEST(GemmTest, BroadcastZeroStrideInput) {
  // An expanded (stride-0) operand: every row of B is the same vector.
  using T = TypeParam;
  const int64_t M = 11, N = 21, K = 30;
  std::mt19937 rng(7);
  Mat<T> A(M, K, Layout::Row);
  fill_random(A, rng);
  std::vector<T> brow(N);
  for (int64_t j = 0; j < N; ++j) brow[j] = static_cast<T>(0.25 + 0.01 * j);
  std::vector<T> C(M * N);
  gemm(M, N, K, A.data(), A.rs, A.cs, brow.data(), 0, 1, C.data(), N, 1, false);
  for (int64_t i = 0; i < M; ++i) {
    double rowsum = 0;
    for (int64_t k = 0; k < K; ++k) rowsum += A.at(i, k);
    for (int64_t j = 0; j < N; ++j)
      EXPECT_NEAR(C[i * N + j], rowsum * brow[j], 1e-4 * K) << i << "," << j;
  }
}

TYPED_TEST(GemmTest, ConcurrentCallers) {
  // Each calling thread has its own packing buffers; results must not mix.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t] {
      check_case<TypeParam>(150 + t, 140, 120, Layout::Row, Layout::Row, Layout::Row, t % 2 == 1,
                            static_cast<uint32_t>(t));
    });
  for (auto& th : threads) th.join();
}

// The implicit-B driver: B handed out block by block through a callback
// (here read from a stored matrix, with the block shape checked), C
// segmented as several images of an NCHW tensor, the gaps between
// segments never written.
template <class T>
struct StoredB {
  const Mat<T>* b;
  int64_t K, N;
};

template <class T>
void pack_stored(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t ncols, T* dst, int64_t ldb) {
  const StoredB<T>& s = *static_cast<const StoredB<T>*>(ctx);
  ASSERT_TRUE(k0 >= 0 && kc > 0 && k0 + kc <= s.K);
  ASSERT_TRUE(j0 >= 0 && ncols > 0 && ncols <= ldb && ldb <= ember::cpu::kImplicitBlockCols && j0 + ncols <= s.N);
  for (int64_t p = 0; p < kc; ++p)
    for (int64_t j = 0; j < ncols; ++j) dst[p * ldb + j] = const_cast<Mat<T>*>(s.b)->at(k0 + p, j0 + j);
}

void gemm_implicit(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsa, int64_t csa,
                   const ember::cpu::ImplicitB<float>& B, float* C, int64_t rsc, int64_t seg, int64_t stride,
                   bool acc, const float* bias = nullptr) {
  ember::cpu::gemm_implicit_b_f32(M, N, K, A, rsa, csa, B, C, rsc, seg, stride, acc, bias);
}
void gemm_implicit(int64_t M, int64_t N, int64_t K, const double* A, int64_t rsa, int64_t csa,
                   const ember::cpu::ImplicitB<double>& B, double* C, int64_t rsc, int64_t seg, int64_t stride,
                   bool acc, const double* bias = nullptr) {
  ember::cpu::gemm_implicit_b_f64(M, N, K, A, rsa, csa, B, C, rsc, seg, stride, acc, bias);
}

// C as `images` segments of seg columns each, every segment M rows of rsc
// (>= seg) elements, segments seg_stride (>= M * rsc) apart; N = images * seg.
template <class T>
void check_implicit_case(int64_t M, int64_t images, int64_t seg, int64_t K, bool accumulate, Layout la,
                         bool with_bias = false) {
  const int64_t N = images * seg, rsc = seg + 3, seg_stride = M * rsc + 5;
  SCOPED_TRACE("M=" + std::to_string(M) + " images=" + std::to_string(images) + " seg=" + std::to_string(seg) +
               " K=" + std::to_string(K) + " acc=" + std::to_string(accumulate) + " A=" + layout_name(la) +
               " bias=" + std::to_string(with_bias));
  std::mt19937 rng(static_cast<uint32_t>(M * 7 + N * 3 + K));
  Mat<T> A(M, K, la), B(K, N, Layout::Row);
  fill_random(A, rng);
  fill_random(B, rng);
  const T sentinel = T(12345);
  std::vector<T> C(static_cast<size_t>(images * seg_stride), sentinel);
  auto at = [&](int64_t i, int64_t j) -> T& { return C[static_cast<size_t>((j / seg) * seg_stride + j % seg + i * rsc)]; };
  std::vector<double> c0(static_cast<size_t>(M * N), 0.0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      at(i, j) = accumulate ? static_cast<T>(0.5 - 0.01 * static_cast<double>((i + j) % 13))
                            : std::numeric_limits<T>::quiet_NaN();
      if (accumulate) c0[i * N + j] = at(i, j);
    }
  std::vector<T> bias(static_cast<size_t>(M));
  for (int64_t i = 0; i < M; ++i) bias[i] = static_cast<T>(0.125 * static_cast<double>(i % 5) - 0.3);
  if (with_bias)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) c0[i * N + j] += bias[i];
  const StoredB<T> src{&B, K, N};
  gemm_implicit(M, N, K, A.data(), A.rs, A.cs, ember::cpu::ImplicitB<T>{pack_stored<T>, &src}, C.data(), rsc, seg,
                seg_stride, accumulate, with_bias ? bias.data() : nullptr);
  const double eps = std::numeric_limits<T>::epsilon();
  int64_t bad = 0;
  std::vector<bool> is_elem(C.size(), false);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double mag;
      const double ref = reference(A, B, i, j, K, c0[i * N + j], mag);
      is_elem[&at(i, j) - C.data()] = true;
      const double got = at(i, j), tol = 2.0 * eps * static_cast<double>(K + 2) * mag + 1e-300;
      if (!(std::fabs(got - ref) <= tol) && ++bad <= 5)
        ADD_FAILURE() << "C(" << i << "," << j << ") = " << got << ", expected " << ref;
    }
  EXPECT_EQ(bad, 0);
  for (size_t e = 0; e < C.size(); ++e)
    if (!is_elem[e]) ASSERT_EQ(C[e], sentinel) << "wrote outside C at index " << e;
}

TYPED_TEST(GemmTest, ImplicitBSegmentedC) {
  for_each_kernel([] {
    // Panels inside one segment and across segment boundaries (segments of
    // 100, 25, 3 and 1 columns), ragged M and K, several K slices (K = 700),
    // several column blocks, accumulation, and A transposed.
    // A row bias with one K slice and with several, inside segments and across them.
    for (bool acc : {false, true}) {
      check_implicit_case<TypeParam>(16, 6, 100, 150, acc, Layout::Row);
      check_implicit_case<TypeParam>(7, 5, 25, 33, acc, Layout::Col, true);
      check_implicit_case<TypeParam>(13, 11, 3, 700, acc, Layout::Row, true);
      check_implicit_case<TypeParam>(1, 40, 1, 9, acc, Layout::Strided);
      check_implicit_case<TypeParam>(64, 1, 3136, 576, acc, Layout::Row);  // one 64-channel 56x56 image, threaded
      check_implicit_case<TypeParam>(6, 3, 784, 25, acc, Layout::Row, true);  // LeNet's first layer
    }
  });
}

TYPED_TEST(GemmTest, ImplicitBKZero) {
  using T = TypeParam;
  std::vector<T> C(2 * 3 * 4, std::numeric_limits<T>::quiet_NaN());
  T dummy = T(1);
  const ember::cpu::ImplicitB<T> never{nullptr, nullptr};  // K = 0: B is never asked for
  gemm_implicit(3, 8, 0, &dummy, 1, 1, never, C.data(), 4, 4, 12, false);
  for (T v : C) EXPECT_EQ(v, T(0));
  const T bias[3] = {T(1), T(2), T(3)};  // then the bias alone, added
  gemm_implicit(3, 8, 0, &dummy, 1, 1, never, C.data(), 4, 4, 12, true, bias);
  for (int64_t e = 0; e < 24; ++e) EXPECT_EQ(C[e], bias[e % 12 / 4]) << e;
}

// gemm_indexed_b: B's rows are windows of one buffer at given offsets
// (overlapping, out of order, as a convolution's shifted image rows are).
template <class T>
void check_indexed_case(int64_t M, int64_t N, int64_t K, Layout la) {
  SCOPED_TRACE("indexed M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K) +
               " A=" + layout_name(la));
  std::mt19937 rng(static_cast<uint32_t>(M * 3 + N * 7 + K * 11));
  Mat<T> A(M, K, la);
  fill_random(A, rng);
  const int64_t span = N + 3 * K + 5;
  Mat<T> buffer(1, span + ember::cpu::gemm_indexed_b_overread(), Layout::Row);
  fill_random(buffer, rng);
  std::vector<int32_t> offs(static_cast<size_t>(K));
  std::uniform_int_distribution<int32_t> where(0, static_cast<int32_t>(span - N));
  for (auto& o : offs) o = where(rng);
  const int64_t rsc = N + 1;
  std::vector<T> C(static_cast<size_t>(M * rsc), T(12345));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) C[i * rsc + j] = std::numeric_limits<T>::quiet_NaN();  // overwritten, never read
  if constexpr (sizeof(T) == 4)
    ember::cpu::gemm_indexed_b_f32(M, N, K, A.data(), A.rs, A.cs, buffer.data(), offs.data(), C.data(), rsc);
  else
    ember::cpu::gemm_indexed_b_f64(M, N, K, A.data(), A.rs, A.cs, buffer.data(), offs.data(), C.data(), rsc);
  const double eps = std::numeric_limits<T>::epsilon();
  int64_t bad = 0;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double ref = 0, mag = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double prod = static_cast<double>(A.at(i, k)) * static_cast<double>(buffer.at(0, offs[k] + j));
        ref += prod;
        mag += std::fabs(prod);
      }
      const double got = C[i * rsc + j], tol = 2.0 * eps * static_cast<double>(K + 2) * mag + 1e-300;
      if (!(std::fabs(got - ref) <= tol) && ++bad <= 5)
        ADD_FAILURE() << "C(" << i << "," << j << ") = " << got << ", expected " << ref;
    }
    ASSERT_EQ(C[i * rsc + N], T(12345)) << "wrote past row " << i;
  }
  EXPECT_EQ(bad, 0);
}

TYPED_TEST(GemmTest, IndexedB) {
  for_each_kernel([] {
    // Ragged M (tiles of 1..6 rows) and N (partial last panels), K = 0..400,
    // A transposed, and a size that runs threaded.
    for (int64_t M : {1, 5, 6, 16})
      for (int64_t N : {1, 15, 16, 140})
        for (int64_t K : {1, 25, 150}) check_indexed_case<TypeParam>(M, N, K, Layout::Row);
    check_indexed_case<TypeParam>(7, 33, 400, Layout::Col);
    check_indexed_case<TypeParam>(32, 3000, 150, Layout::Row);
  });
}

TYPED_TEST(GemmTest, IndexedBKZeroWritesZeros) {
  using T = TypeParam;
  std::vector<T> C(3 * 5, std::numeric_limits<T>::quiet_NaN());
  T dummy = T(1);
  if constexpr (sizeof(T) == 4)
    ember::cpu::gemm_indexed_b_f32(3, 5, 0, &dummy, 1, 1, &dummy, nullptr, C.data(), 5);
  else
    ember::cpu::gemm_indexed_b_f64(3, 5, 0, &dummy, 1, 1, &dummy, nullptr, C.data(), 5);
  for (T v : C) EXPECT_EQ(v, T(0));
}

// gemm_rows: C (+)= A . B^T with both operands' rows along the reduction.
template <class T>
void check_rows_case(int64_t M, int64_t N, int64_t L, bool accumulate) {
  SCOPED_TRACE("rows M=" + std::to_string(M) + " N=" + std::to_string(N) + " L=" + std::to_string(L) +
               " acc=" + std::to_string(accumulate));
  std::mt19937 rng(static_cast<uint32_t>(M * 5 + N * 11 + L));
  Mat<T> A(M, L, Layout::PaddedRow), Bt(N, L, Layout::PaddedRow);
  fill_random(A, rng);
  fill_random(Bt, rng);
  const int64_t ldc = N + 2;
  const T sentinel = T(12345);
  std::vector<T> C(static_cast<size_t>(M * ldc), sentinel);
  std::vector<double> c0(static_cast<size_t>(M * N), 0.0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      C[i * ldc + j] = accumulate ? static_cast<T>(0.25 * static_cast<double>((i * 3 + j) % 7) - 0.5)
                                  : std::numeric_limits<T>::quiet_NaN();
      c0[i * N + j] = accumulate ? static_cast<double>(C[i * ldc + j]) : 0.0;
    }
  if constexpr (sizeof(T) == 4)
    ember::cpu::gemm_rows_f32(M, N, L, A.data(), A.rs, Bt.data(), Bt.rs, C.data(), ldc, accumulate);
  else
    ember::cpu::gemm_rows_f64(M, N, L, A.data(), A.rs, Bt.data(), Bt.rs, C.data(), ldc, accumulate);
  const double eps = std::numeric_limits<T>::epsilon();
  int64_t bad = 0;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double ref = c0[i * N + j], mag = std::fabs(ref);
      for (int64_t l = 0; l < L; ++l) {
        const double prod = static_cast<double>(A.at(i, l)) * static_cast<double>(Bt.at(j, l));
        ref += prod;
        mag += std::fabs(prod);
      }
      const double got = C[i * ldc + j], tol = 2.0 * eps * static_cast<double>(L + 2) * mag + 1e-300;
      if (!(std::fabs(got - ref) <= tol) && ++bad <= 5)
        ADD_FAILURE() << "C(" << i << "," << j << ") = " << got << ", expected " << ref;
    }
    for (int64_t j = N; j < ldc; ++j) ASSERT_EQ(C[i * ldc + j], sentinel) << "wrote outside C";
  }
  EXPECT_EQ(bad, 0);
}

TYPED_TEST(GemmTest, RowsProduct) {
  for_each_kernel([] {
    // Every tile shape (M, N mod 3 and 4), reductions shorter than a
    // vector, with a tail, and long (a conv weight gradient's).
    for (bool acc : {false, true})
      for (int64_t M : {1, 2, 3, 16})
        for (int64_t N : {1, 4, 7, 25})
          for (int64_t L : {0, 3, 8, 13, 400}) check_rows_case<TypeParam>(M, N, L, acc);
    check_rows_case<TypeParam>(6, 25, 3 * 784, false);  // LeNet's first layer, 3 images
  });
}

TEST(GemmKernel, NameIsKnown) {
  const std::string name = ember::cpu::gemm_kernel_name();
  EXPECT_TRUE(name == "avx2" || name == "generic") << name;
  EXPECT_FALSE(ember::cpu::gemm_select_kernel("no-such-kernel"));
  EXPECT_EQ(ember::cpu::gemm_kernel_name(), name);
}

}  // namespace
