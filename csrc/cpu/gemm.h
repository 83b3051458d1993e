// gemm.h — ember's CPU matrix multiply (float32 / float64), BLIS-style.
//
// Self-contained: depends on nothing else in ember, so ops, benchmarks and
// tests can all call it directly. Every operand is described by a row stride
// and a column stride (in elements), so transposed and strided views are
// multiplied without a copy: the packing step absorbs the strides.
#pragma once

#include <cstdint>

namespace ember::cpu {

// C[M,N] (+)= A[M,K] @ B[K,N].
// accumulate=false overwrites C (C may hold garbage, even NaN);
// accumulate=true adds into C. K=0 therefore zeroes C or leaves it unchanged.
// C must not alias A or B. Strides must be non-negative (zero strides are
// allowed for broadcast inputs, not for C).
// Large problems use all OpenMP threads unless already inside a parallel region.
void gemm_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsa, int64_t csa,
              const float* B, int64_t rsb, int64_t csb, float* C, int64_t rsc, int64_t csc,
              bool accumulate);

void gemm_f64(int64_t M, int64_t N, int64_t K, const double* A, int64_t rsa, int64_t csa,
              const double* B, int64_t rsb, int64_t csb, double* C, int64_t rsc, int64_t csc,
              bool accumulate);

// Implicit GEMM: C (+)= A[M,K] @ B[K,N] where B is never stored whole; the
// caller packs it a block at a time (a convolution's im2col columns, read
// straight from the image, so the column matrix never goes through memory).
//   pack(ctx, k0, kc, j0, ncols, dst, ldb) writes B[k0 + p][j0 + j] to
//   dst[p * ldb + j] for p < kc, j < ncols (ncols <= ldb <= kImplicitBlockCols).
// C is "segmented", so the columns can run across several images of an NCHW
// tensor: column j lies at C + (j / seg) * seg_stride + j % seg, row i at
// + i * rsc (seg = N, seg_stride = 0 for a plain row-major matrix).
// row_bias, when not null, is added to row i of the product before it is
// stored (a convolution's bias, added while the tile is in registers'
// reach instead of in a pass over the output).
// Every element is summed over K in the same slices whatever the thread
// count; threads split the column blocks unless already in a parallel region.
constexpr int64_t kImplicitBlockCols = 64;

template <class T>
struct ImplicitB {
  void (*pack)(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t ncols, T* dst, int64_t ldb);
  const void* ctx;
};

void gemm_implicit_b_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsa, int64_t csa,
                         const ImplicitB<float>& B, float* C, int64_t rsc, int64_t seg, int64_t seg_stride,
                         bool accumulate, const float* row_bias = nullptr);
void gemm_implicit_b_f64(int64_t M, int64_t N, int64_t K, const double* A, int64_t rsa, int64_t csa,
                         const ImplicitB<double>& B, double* C, int64_t rsc, int64_t seg, int64_t seg_stride,
                         bool accumulate, const double* row_bias = nullptr);

// Indexed GEMM: C = A[M,K] @ B[K,N] where B's row k is N contiguous
// elements at base + offs[k] (a stride-1 convolution: each row a shifted
// window of one zero-padded image, so nothing is packed). Overwrites C
// (rows rsc apart, unit column stride). The kernel loads whole vectors, so
// up to gemm_indexed_b_overread() elements past the end of any row may be
// read (never used): the caller's buffer must have them.
void gemm_indexed_b_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsa, int64_t csa, const float* base,
                        const int32_t* offs, float* C, int64_t rsc);
void gemm_indexed_b_f64(int64_t M, int64_t N, int64_t K, const double* A, int64_t rsa, int64_t csa,
                        const double* base, const int32_t* offs, double* C, int64_t rsc);
int64_t gemm_indexed_b_overread();

// Which micro-kernel is in use: "avx2" or "generic". The choice is made once
// from the running CPU (EMBER_CPU_KERNELS=baseline forces generic), or from EMBER_GEMM_KERNEL=generic|avx2 in the
// environment (for testing the fallback on an AVX2 machine).
const char* gemm_kernel_name();

// Test hook: switch kernels at run time ("avx2", "generic" or "auto").
// Returns false (and changes nothing) when the CPU cannot run the request.
// Not thread-safe with respect to concurrent gemm calls.
bool gemm_select_kernel(const char* name);

}  // namespace ember::cpu
