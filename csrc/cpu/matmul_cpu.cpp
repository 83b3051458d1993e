// Batched matmul on the CPU: float32/float64 go to the packed GEMM in
// gemm.cpp (any strides, so transposed operands are never copied); integer
// dtypes use a plain loop, as they are rare in training.
#include <type_traits>

#include "../error.h"
#include "dispatch.h"
#include "gemm.h"
#include "kernels.h"
#include "parallel.h"

namespace ember::cpu {

namespace {

template <typename T>
void matmul_naive(int64_t M, int64_t N, int64_t K, const T* A, int64_t rsa, int64_t csa, const T* B, int64_t rsb,
                  int64_t csb, T* C, int64_t rsc, int64_t csc, bool accumulate) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      T acc = T(0);
      for (int64_t k = 0; k < K; ++k) acc = T(acc + A[i * rsa + k * csa] * B[k * rsb + j * csb]);
      T& c = C[i * rsc + j * csc];
      c = accumulate ? T(c + acc) : acc;
    }
}

}  // namespace

void matmul(const Tensor& out, const Tensor& a, const Tensor& b, bool accumulate) {
  int64_t batch = out->shape[0], M = out->shape[1], N = out->shape[2], K = a->shape[2];
  dispatch_dtype(out->dtype, "matmul", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      throw TypeError("matmul is not implemented for bool tensors");
    } else {
      const T* A = a->data<T>();
      const T* B = b->data<T>();
      T* C = out->data<T>();
      if (!omp_in_parallel()) thread_budget();  // the GEMM's regions follow the load-aware budget
      for (int64_t i = 0; i < batch; ++i) {
        const T* Ai = A + i * a->strides[0];
        const T* Bi = B + i * b->strides[0];
        T* Ci = C + i * out->strides[0];
        if constexpr (std::is_same_v<T, float>) {
          gemm_f32(M, N, K, Ai, a->strides[1], a->strides[2], Bi, b->strides[1], b->strides[2], Ci, out->strides[1],
                   out->strides[2], accumulate);
        } else if constexpr (std::is_same_v<T, double>) {
          gemm_f64(M, N, K, Ai, a->strides[1], a->strides[2], Bi, b->strides[1], b->strides[2], Ci, out->strides[1],
                   out->strides[2], accumulate);
        } else {
          matmul_naive<T>(M, N, K, Ai, a->strides[1], a->strides[2], Bi, b->strides[1], b->strides[2], Ci,
                          out->strides[1], out->strides[2], accumulate);
        }
      }
    }
  });
}

}  // namespace ember::cpu
