// The shape and strides of one batched matmul launch, shared by the GEMM
// kernels' files (matmul.cu, matmul_tf32.cu, matmul_hopper.cu).
#pragma once
#include <cstdint>

namespace ember {
namespace cuda {

struct GemmArgs {
  int64_t M, N, K;
  int64_t a_bs, a_rs, a_cs;  // batch, row (m), col (k) strides of a
  int64_t b_bs, b_rs, b_cs;  // batch, row (k), col (n) strides of b
  int64_t o_bs, o_rs, o_cs;
  bool accumulate;
};

// matmul_tf32.cu: float32 c[b] (+)= a[b] @ b[b] on the tensor cores in TF32
// (ember.set_float32_matmul_precision('high')). False, with nothing
// launched, on a GPU below compute capability 8.0 (the caller then runs
// the float32 kernel). `batch` and the grid's rows within CUDA's limits
// (the caller's launch_in_chunks).
bool matmul_tf32(const GemmArgs& g, int64_t batch, const float* a, const float* b, float* c);

// matmul_hopper.cu: float16/bfloat16 c[b] (+)= a[b] @ b[b] by wgmma and TMA
// on compute capability 9.0 (built for sm_90a). False, with nothing
// launched, where it does not apply: not opted in (EMBER_CUDA_WGMMA=1),
// another GPU, operands not both K-contiguous and 16-byte aligned.
template <class T>
bool matmul_hopper(const GemmArgs& g, int64_t batch, const T* a, const T* b, T* c);

}  // namespace cuda
}  // namespace ember
