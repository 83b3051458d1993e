// float32 matmul on the tensor cores in TF32, for
// ember.set_float32_matmul_precision('high' | 'medium') (csrc/math_mode.h):
// each input rounded to TF32 (a 10-bit mantissa) as it enters the tensor
// core, products summed in float32. WMMA's m16n16k8 TF32 fragments, sm_80
// and later; 128x128x32 block tiles over 8 warps (64x32 per warp), any
// strides and ragged edges (bounds-checked tile loads, zeros outside),
// accumulate into C or overwrite it. A first, synchronous-load version: the
// cp.async pipeline of the 16-bit kernel (matmul.cu) and a Hopper wgmma
// path are the next steps (bench/RESULTS.md, issue 18).
#include "cuda/common.cuh"
#include "cuda/gemm_args.h"
#include "cuda/wmma_tile.cuh"

namespace ember {
namespace cuda {

namespace {

constexpr int kBM = 128, kBN = 128;  // block tile (the K step and warp tiles are in the kernel)

template <class Frag>
__device__ __forceinline__ void round_to_tf32(Frag& f) {
#pragma unroll
  for (int t = 0; t < f.num_elements; ++t) f.x[t] = wmma::__float_to_tf32(f.x[t]);
}

__global__ void __launch_bounds__(256)
    tf32_gemm_kernel(GemmArgs g, const float* __restrict__ A, const float* __restrict__ B, float* __restrict__ C) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  constexpr int kBK = 32, kPad = 4;  // pad: ldm a multiple of 4 floats, rows off the same bank
  constexpr int kWM = 64, kWN = 32;  // per warp: 4 x 2 fragments of 16 x 16
  // 32-byte alignment: load/store_matrix_sync need 256-bit aligned pointers;
  // every fragment offset below is a multiple of 32 bytes.
  __shared__ __align__(32) float As[kBM][kBK + kPad];
  __shared__ __align__(32) float Bs[kBK][kBN + kPad];
  __shared__ __align__(32) float scratch[8][16 * 16];

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int wm = warp / 4, wn = warp % 4;  // 2 x 4 warps
  const int64_t m0 = int64_t(blockIdx.y) * kBM, n0 = int64_t(blockIdx.x) * kBN;
  A += blockIdx.z * g.a_bs;
  B += blockIdx.z * g.b_bs;
  C += blockIdx.z * g.o_bs;

  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[kWM / 16][kWN / 16];
#pragma unroll
  for (int i = 0; i < kWM / 16; ++i)
#pragma unroll
    for (int j = 0; j < kWN / 16; ++j) wmma::fill_fragment(acc[i][j], 0.f);

  for (int64_t k0 = 0; k0 < g.K; k0 += kBK) {
    load_tile<kBM, kBK, kBK + kPad>(As, A, m0, k0, g.M, g.K, g.a_rs, g.a_cs, false, tid, 0.f);
    load_tile<kBK, kBN, kBN + kPad>(Bs, B, k0, n0, g.K, g.N, g.b_rs, g.b_cs, false, tid, 0.f);
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa[kWM / 16];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb[kWN / 16];
#pragma unroll
      for (int i = 0; i < kWM / 16; ++i) {
        wmma::load_matrix_sync(fa[i], &As[wm * kWM + i * 16][kk], kBK + kPad);
        round_to_tf32(fa[i]);
      }
#pragma unroll
      for (int j = 0; j < kWN / 16; ++j) {
        wmma::load_matrix_sync(fb[j], &Bs[kk][wn * kWN + j * 16], kBN + kPad);
        round_to_tf32(fb[j]);
      }
#pragma unroll
      for (int i = 0; i < kWM / 16; ++i)
#pragma unroll
        for (int j = 0; j < kWN / 16; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();
  }
  store_warp_tile<float>(acc, scratch[warp], C, g, m0 + wm * kWM, n0 + wn * kWN, lane);
#else
  __trap();  // dispatched only on sm_80 and later (compute_capability_major)
#endif
}

}  // namespace

bool matmul_tf32(const GemmArgs& g, int64_t batch, const float* a, const float* b, float* c) {
  if (compute_capability_major() < 8) return false;
  dim3 grid(static_cast<unsigned>(ceil_div(g.N, int64_t(kBN))), static_cast<unsigned>(ceil_div(g.M, int64_t(kBM))),
            static_cast<unsigned>(batch));
  tf32_gemm_kernel<<<grid, 256, 0, stream()>>>(g, a, b, c);
  EMBER_CUDA_LAUNCH_CHECK("tf32_gemm_kernel");
  return true;
}

}  // namespace cuda
}  // namespace ember
