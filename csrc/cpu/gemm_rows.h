// gemm_rows.h — C (+)= A · B^T for operands whose rows both run along the
// reduction: A [M, L] and B [N, L], each row contiguous.
//
// For products with small M and N and a long L — a convolution's weight
// gradient with few channels (LeNet: 6 x 25 and 16 x 150 outputs, each a sum
// over every output position of the batch) — where gemm.h would pack and
// transpose the whole of one operand for a handful of output tiles. Here
// each output tile is a set of dot products over the rows as they lie, a
// vector of partial sums per output reduced at the end.
//
// Single-threaded (its caller splits the work); the summation order depends
// on the sizes and the kernel (AVX2 or portable) only.
#pragma once

#include <cstdint>

namespace ember::cpu {

void gemm_rows_f32(int64_t M, int64_t N, int64_t L, const float* A, int64_t lda, const float* B, int64_t ldb,
                   float* C, int64_t ldc, bool accumulate);
void gemm_rows_f64(int64_t M, int64_t N, int64_t L, const double* A, int64_t lda, const double* B, int64_t ldb,
                   double* C, int64_t ldc, bool accumulate);

}  // namespace ember::cpu
