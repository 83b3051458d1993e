// Batched matmul out[b] (+)= a[b] @ b_[b], [B,M,K] x [B,K,N], any strides
// (a batch stride may be 0 for a broadcast operand).
//
//   float32   sgemm_kernel: shared-memory tiles of BMxBK and BKxBN, each of
//             256 threads accumulating a TMxTN block in registers (outer
//             products from float4 shared loads), next tiles prefetched into
//             registers while the current one is multiplied (as float4s when
//             both operands are row-major and aligned). 128x128 tiles;
//             when they would not fill the GPU, K split into slices summed
//             afterwards (deep K) or 64x64 tiles.
//   f16/bf16  on Hopper (opted in, K-contiguous operands): wgmma + TMA,
//             matmul_hopper.cu. Otherwise
//             tensor cores through WMMA (mma.sync), 16x16x16 fragments,
//             float32 accumulation, 128x128x32 tiles over 8 warps (64x32 per
//             warp). wmma_async_gemm_kernel when both operands' tiles can be
//             copied in 16-byte chunks (row- or column-major): cp.async,
//             three stages deep. Otherwise wmma_gemm_kernel, which loads each
//             tile synchronously.
//             With ember.set_float32_matmul_precision('high') on sm_80 and
//             later: the TF32 tensor-core kernel of matmul_tf32.cu instead.
//   others    tiled_gemm_kernel: a plain 16x16 shared-memory tiling (float64
//             and integers; accumulates in double / int64).
// Every kernel handles ragged edges with bounds checks, so odd sizes work.
#include "csrc/math_mode.h"
#include "cuda/common.cuh"
#include "cuda/gemm_args.h"
#include "cuda/gemm_tile.cuh"
#include "cuda/wmma_tile.cuh"
#include "cuda/kernels.h"

namespace ember {
namespace cuda {

// ---------------- float32: register-blocked SGEMM ----------------

// Thread tid's share of a ROWS x COLS tile at (r0, c0) of a rows x cols
// matrix with unit column stride and row stride rs, as float4s: its i-th
// float4 (row e / (COLS / 4), columns (e % (COLS / 4)) * 4.., e = tid + i * NT)
// lands in regs[4 i .. 4 i + 3], zeros outside the matrix.
template <int ROWS, int COLS, int NT, int PER>
__device__ __forceinline__ void load_float4_tile(float (&regs)[PER], const float* __restrict__ src, int64_t r0,
                                                 int64_t c0, int64_t rows, int64_t cols, int64_t rs, int tid) {
#pragma unroll
  for (int i = 0; i < PER / 4; ++i) {
    const int e = tid + i * NT;
    const int64_t gr = r0 + e / (COLS / 4), gc = c0 + (e % (COLS / 4)) * 4;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (gr < rows && gc < cols) v = *reinterpret_cast<const float4*>(src + gr * rs + gc);
    regs[4 * i] = v.x, regs[4 * i + 1] = v.y, regs[4 * i + 2] = v.z, regs[4 * i + 3] = v.w;
  }
}

// VEC: A has unit column stride and B unit column stride, both with row
// strides, K and N multiples of 4 and 16-byte aligned bases, so each thread
// fetches its share of a tile as float4s.
template <int BM, int BN, int BK, int TM, int TN, bool VEC>
__global__ void __launch_bounds__((BM / TM) * (BN / TN), 1)
    sgemm_kernel(GemmArgs g, const float* __restrict__ A, const float* __restrict__ B, float* __restrict__ C) {
  constexpr int NT = (BM / TM) * (BN / TN);
  constexpr int A_PER = BM * BK / NT;
  constexpr int B_PER = BK * BN / NT;
  constexpr int APAD = 4;  // As is stored k-major; the pad spreads the transposing stores over the banks
  static_assert(A_PER >= 1 && B_PER >= 1, "tile too small for the thread count");
  static_assert(!VEC || (A_PER % 4 == 0 && B_PER % 4 == 0), "vector loads need 4 elements per thread");
  __shared__ __align__(16) float As[BK][BM + APAD];
  __shared__ __align__(16) float Bs[BK][BN];

  const int tid = threadIdx.x;
  const int tx = tid % (BN / TN), ty = tid / (BN / TN);
  const int64_t m0 = int64_t(blockIdx.y) * BM, n0 = int64_t(blockIdx.x) * BN;
  A += blockIdx.z * g.a_bs;
  B += blockIdx.z * g.b_bs;
  C += blockIdx.z * g.o_bs;
  // Which index varies fastest across threads when loading: the one with
  // unit stride, so global loads coalesce for both layouts.
  const bool a_k_fast = g.a_cs == 1;
  const bool b_n_fast = g.b_cs == 1 || g.b_rs != 1;

  float ra[A_PER], rb[B_PER];
  auto load_tiles = [&](int64_t k0) {
    if constexpr (VEC) {
      load_float4_tile<BM, BK, NT>(ra, A, m0, k0, g.M, g.K, g.a_rs, tid);
      load_float4_tile<BK, BN, NT>(rb, B, k0, n0, g.K, g.N, g.b_rs, tid);
    } else {
#pragma unroll
      for (int i = 0; i < A_PER; ++i) {
        const int e = tid + i * NT;
        const int m = a_k_fast ? e / BK : e % BM;
        const int k = a_k_fast ? e % BK : e / BM;
        const int64_t gm = m0 + m, gk = k0 + k;
        ra[i] = (gm < g.M && gk < g.K) ? A[gm * g.a_rs + gk * g.a_cs] : 0.f;
      }
#pragma unroll
      for (int i = 0; i < B_PER; ++i) {
        const int e = tid + i * NT;
        const int n = b_n_fast ? e % BN : e / BK;
        const int k = b_n_fast ? e / BN : e % BK;
        const int64_t gk = k0 + k, gn = n0 + n;
        rb[i] = (gk < g.K && gn < g.N) ? B[gk * g.b_rs + gn * g.b_cs] : 0.f;
      }
    }
  };
  auto store_tiles = [&]() {
    if constexpr (VEC) {
#pragma unroll
      for (int i = 0; i < A_PER / 4; ++i) {
        const int e = tid + i * NT;
        const int m = e / (BK / 4), k = (e % (BK / 4)) * 4;
#pragma unroll
        for (int j = 0; j < 4; ++j) As[k + j][m] = ra[4 * i + j];
      }
#pragma unroll
      for (int i = 0; i < B_PER / 4; ++i) {
        const int e = tid + i * NT;
        const int k = e / (BN / 4), n = (e % (BN / 4)) * 4;
        *reinterpret_cast<float4*>(&Bs[k][n]) = make_float4(rb[4 * i], rb[4 * i + 1], rb[4 * i + 2], rb[4 * i + 3]);
      }
    } else {
#pragma unroll
      for (int i = 0; i < A_PER; ++i) {
        const int e = tid + i * NT;
        const int m = a_k_fast ? e / BK : e % BM;
        const int k = a_k_fast ? e % BK : e / BM;
        As[k][m] = ra[i];
      }
#pragma unroll
      for (int i = 0; i < B_PER; ++i) {
        const int e = tid + i * NT;
        const int n = b_n_fast ? e % BN : e / BK;
        const int k = b_n_fast ? e / BN : e % BK;
        Bs[k][n] = rb[i];
      }
    }
  };

  float acc[TM][TN] = {};
  float fa[TM], fb[TN];
  load_tiles(0);
  for (int64_t k0 = 0; k0 < g.K; k0 += BK) {
    store_tiles();
    __syncthreads();
    if (k0 + BK < g.K) load_tiles(k0 + BK);  // in flight while we multiply
#pragma unroll
    for (int k = 0; k < BK; ++k) {
#pragma unroll
      for (int i = 0; i < TM; i += 4)
        *reinterpret_cast<float4*>(&fa[i]) = *reinterpret_cast<const float4*>(&As[k][sgemm_slot<BM, TM>(ty, i)]);
#pragma unroll
      for (int j = 0; j < TN; j += 4)
        *reinterpret_cast<float4*>(&fb[j]) = *reinterpret_cast<const float4*>(&Bs[k][sgemm_slot<BN, TN>(tx, j)]);
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t gm = m0 + sgemm_slot<BM, TM>(ty, i);
    if (gm >= g.M) continue;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int64_t gn = n0 + sgemm_slot<BN, TN>(tx, j);
      if (gn >= g.N) continue;
      float* p = C + gm * g.o_rs + gn * g.o_cs;
      *p = g.accumulate ? *p + acc[i][j] : acc[i][j];
    }
  }
}

// ---------------- float16 / bfloat16: tensor cores via WMMA ----------------

template <class T>
__global__ void __launch_bounds__(256)
    wmma_gemm_kernel(GemmArgs g, const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C, bool a_vec,
                     bool b_vec) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  constexpr int BM = 128, BN = 128, BK = 32, PAD = 8;
  constexpr int WM = 64, WN = 32;  // per-warp tile: 4 x 2 fragments
  // 32-byte alignment: load_matrix_sync / store_matrix_sync require 256-bit
  // aligned pointers (every fragment's offset below is a multiple of 32 bytes).
  __shared__ __align__(32) T As[BM][BK + PAD];
  __shared__ __align__(32) T Bs[BK][BN + PAD];
  __shared__ __align__(32) float scratch[8][16 * 16];

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int wm = warp / 4, wn = warp % 4;  // 2 x 4 warps
  const int64_t m0 = int64_t(blockIdx.y) * BM, n0 = int64_t(blockIdx.x) * BN;
  A += blockIdx.z * g.a_bs;
  B += blockIdx.z * g.b_bs;
  C += blockIdx.z * g.o_bs;
  const T zero = narrow<T>(0.f);

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[4][2];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.f);

  for (int64_t k0 = 0; k0 < g.K; k0 += BK) {
    load_tile<BM, BK, BK + PAD>(As, A, m0, k0, g.M, g.K, g.a_rs, g.a_cs, a_vec, tid, zero);
    load_tile<BK, BN, BN + PAD>(Bs, B, k0, n0, g.K, g.N, g.b_rs, g.b_cs, b_vec, tid, zero);
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa[4];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> fb[2];
#pragma unroll
      for (int i = 0; i < 4; ++i) wmma::load_matrix_sync(fa[i], &As[wm * WM + i * 16][kk], BK + PAD);
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], &Bs[kk][wn * WN + j * 16], BN + PAD);
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();
  }
  store_warp_tile<T>(acc, scratch[warp], C, g, m0 + wm * WM, n0 + wn * WN, lane);
#else
  __trap();  // built for an architecture without bf16 tensor cores
#endif
}

// ---------------- float16 / bfloat16: pipelined tensor-core GEMM ----------------
//
// For operands whose tiles are rows of 16-byte chunks in memory (each of A
// and B has a unit-stride dim, either one, with the other strides, that
// dim's extent and the base 16-byte aligned): tiles are copied global ->
// shared with cp.async, STAGES deep, so the next tiles are in flight while
// the tensor cores work on the current one. Same 128x128x32 tiles and warp
// layout as wmma_gemm_kernel.

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int src_bytes = valid ? 16 : 0;  // 0: nothing is read, the 16 bytes are zero-filled
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// A ROWS x COLS tile from (r0, c0) of a rows x cols matrix with unit column
// stride and row stride rs, into shared memory of row pitch LD; zeros outside.
template <int ROWS, int COLS, int LD, class T>
__device__ __forceinline__ void copy_tile_async(T* dst, const T* __restrict__ src, int64_t r0, int64_t c0,
                                                int64_t rows, int64_t cols, int64_t rs, int tid) {
#pragma unroll
  for (int e = tid; e < ROWS * COLS / 8; e += 256) {
    const int r = e / (COLS / 8), c = (e % (COLS / 8)) * 8;
    const int64_t gr = r0 + r, gc = c0 + c;
    const bool valid = gr < rows && gc < cols;
    cp_async16(dst + r * LD + c, valid ? src + gr * rs + gc : src, valid);
  }
}

template <class T, bool A_ROW, bool B_ROW>
struct AsyncGemmShape {
  static constexpr int BM = 128, BN = 128, BK = 32, PAD = 8, STAGES = 3;
  // Row-major A is stored [BM][BK+PAD], column-major A [BK][BM+PAD]; likewise B.
  static constexpr int A_LD = A_ROW ? BK + PAD : BM + PAD;
  static constexpr int B_LD = B_ROW ? BN + PAD : BK + PAD;
  static constexpr int A_ELEMS = A_ROW ? BM * A_LD : BK * A_LD;
  static constexpr int B_ELEMS = B_ROW ? BK * B_LD : BN * B_LD;
  static constexpr size_t kSmemBytes = size_t(STAGES) * (A_ELEMS + B_ELEMS) * sizeof(T);
};

// Two blocks per SM (2 x 61 KB of shared memory fit; the cap of 128
// registers spills a few words): 4096-8192² bf16 went from 120-129 to
// 151-158 TFLOP/s on an H100 against one block per SM.
template <class T, bool A_ROW, bool B_ROW>
__global__ void __launch_bounds__(256, 2)
    wmma_async_gemm_kernel(GemmArgs g, const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  using S = AsyncGemmShape<T, A_ROW, B_ROW>;
  constexpr int BM = S::BM, BN = S::BN, BK = S::BK, STAGES = S::STAGES;
  constexpr int WM = 64, WN = 32;  // per-warp tile: 4 x 2 fragments
  using LayoutA = typename std::conditional<A_ROW, wmma::row_major, wmma::col_major>::type;
  using LayoutB = typename std::conditional<B_ROW, wmma::row_major, wmma::col_major>::type;
  // Every fragment pointer below is a multiple of 32 bytes from this base, as WMMA requires.
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* As = reinterpret_cast<T*>(smem_raw);
  T* Bs = As + STAGES * S::A_ELEMS;

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int wm = warp / 4, wn = warp % 4;  // 2 x 4 warps
  const int64_t m0 = int64_t(blockIdx.y) * BM, n0 = int64_t(blockIdx.x) * BN;
  A += blockIdx.z * g.a_bs;
  B += blockIdx.z * g.b_bs;
  C += blockIdx.z * g.o_bs;

  auto issue = [&](int kt, int stage) {
    const int64_t k0 = int64_t(kt) * BK;
    T* as = As + stage * S::A_ELEMS;
    T* bs = Bs + stage * S::B_ELEMS;
    if constexpr (A_ROW) copy_tile_async<BM, BK, S::A_LD>(as, A, m0, k0, g.M, g.K, g.a_rs, tid);
    else copy_tile_async<BK, BM, S::A_LD>(as, A, k0, m0, g.K, g.M, g.a_cs, tid);
    if constexpr (B_ROW) copy_tile_async<BK, BN, S::B_LD>(bs, B, k0, n0, g.K, g.N, g.b_rs, tid);
    else copy_tile_async<BN, BK, S::B_LD>(bs, B, n0, k0, g.N, g.K, g.b_cs, tid);
  };

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[4][2];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.f);

  const int KT = static_cast<int>(ceil_div(g.K, int64_t(BK)));
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < KT) issue(s, s);
    cp_async_commit();  // an empty group past the end keeps the wait counts right
  }
  for (int kt = 0; kt < KT; ++kt) {
    cp_async_wait<STAGES - 2>();  // this thread's copies of tile kt have landed
    __syncthreads();              // everyone's have, and nobody still reads the stage refilled next
    if (kt + STAGES - 1 < KT) issue(kt + STAGES - 1, (kt + STAGES - 1) % STAGES);
    cp_async_commit();
    const T* as = As + (kt % STAGES) * S::A_ELEMS;
    const T* bs = Bs + (kt % STAGES) * S::B_ELEMS;
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, LayoutA> fa[4];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, LayoutB> fb[2];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int m = wm * WM + i * 16;
        wmma::load_matrix_sync(fa[i], A_ROW ? as + m * S::A_LD + kk : as + kk * S::A_LD + m, S::A_LD);
      }
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int n = wn * WN + j * 16;
        wmma::load_matrix_sync(fb[j], B_ROW ? bs + kk * S::B_LD + n : bs + n * S::B_LD + kk, S::B_LD);
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
  }
  cp_async_wait<0>();
  __syncthreads();  // the pipeline's shared memory becomes the epilogue's scratch
  store_warp_tile<T>(acc, reinterpret_cast<float*>(smem_raw) + warp * 256, C, g, m0 + wm * WM,
                            n0 + wn * WN, lane);
#else
  __trap();  // built for an architecture without cp.async and bf16 tensor cores
#endif
}

// One operand's tiles can be copied in 16-byte chunks along the dim with
// unit stride `unit` when the other stride, that dim's extent, the batch
// stride and the base allow it.
template <class T>
bool chunks_of_16_bytes(const T* base, int64_t unit, int64_t other, int64_t extent, int64_t batch_stride) {
  constexpr int64_t kPer = 16 / sizeof(T);
  return unit == 1 && other % kPer == 0 && extent % kPer == 0 && batch_stride % kPer == 0 &&
         reinterpret_cast<uintptr_t>(base) % 16 == 0;
}

template <class T, bool A_ROW, bool B_ROW>
void launch_wmma_async(const GemmArgs& g, int64_t batch, const T* a, const T* b, T* c) {
  using S = AsyncGemmShape<T, A_ROW, B_ROW>;
  auto kernel = wmma_async_gemm_kernel<T, A_ROW, B_ROW>;
  // More than the default 48 KB of shared memory must be asked for.
  EMBER_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(S::kSmemBytes)));
  dim3 grid(static_cast<unsigned>(ceil_div(g.N, int64_t(S::BN))), static_cast<unsigned>(ceil_div(g.M, int64_t(S::BM))),
            static_cast<unsigned>(batch));
  kernel<<<grid, 256, S::kSmemBytes, stream()>>>(g, a, b, c);
  EMBER_CUDA_LAUNCH_CHECK("wmma_async_gemm_kernel");
}

// Picks the pipelined kernel for the operands' layouts, or returns false.
template <class T>
bool try_wmma_async(const GemmArgs& g, int64_t batch, const T* a, const T* b, T* c) {
  const bool a_row = chunks_of_16_bytes(a, g.a_cs, g.a_rs, g.K, g.a_bs);
  const bool a_col = !a_row && chunks_of_16_bytes(a, g.a_rs, g.a_cs, g.M, g.a_bs);
  const bool b_row = chunks_of_16_bytes(b, g.b_cs, g.b_rs, g.N, g.b_bs);
  const bool b_col = !b_row && chunks_of_16_bytes(b, g.b_rs, g.b_cs, g.K, g.b_bs);
  if (!(a_row || a_col) || !(b_row || b_col)) return false;
  if (a_row && b_row) launch_wmma_async<T, true, true>(g, batch, a, b, c);
  else if (a_row) launch_wmma_async<T, true, false>(g, batch, a, b, c);
  else if (b_row) launch_wmma_async<T, false, true>(g, batch, a, b, c);
  else launch_wmma_async<T, false, false>(g, batch, a, b, c);
  return true;
}

// ---------------- float64 / integers: plain tiling ----------------

template <class T, class A>
__global__ void tiled_gemm_kernel(GemmArgs g, const T* __restrict__ Ap, const T* __restrict__ Bp, T* __restrict__ C) {
  constexpr int TS = 16;
  __shared__ A As[TS][TS + 1];
  __shared__ A Bs[TS][TS + 1];
  const int tx = threadIdx.x % TS, ty = threadIdx.x / TS;
  const int64_t m = int64_t(blockIdx.y) * TS + ty, n = int64_t(blockIdx.x) * TS + tx;
  Ap += blockIdx.z * g.a_bs;
  Bp += blockIdx.z * g.b_bs;
  C += blockIdx.z * g.o_bs;
  A acc = A(0);
  for (int64_t k0 = 0; k0 < g.K; k0 += TS) {
    const int64_t ka = k0 + tx, kb = k0 + ty;
    As[ty][tx] = (m < g.M && ka < g.K) ? static_cast<A>(widen(Ap[m * g.a_rs + ka * g.a_cs])) : A(0);
    Bs[ty][tx] = (kb < g.K && n < g.N) ? static_cast<A>(widen(Bp[kb * g.b_rs + n * g.b_cs])) : A(0);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < TS; ++k) acc += As[ty][k] * Bs[k][tx];
    __syncthreads();
  }
  if (m < g.M && n < g.N) {
    T* p = C + m * g.o_rs + n * g.o_cs;
    *p = g.accumulate ? narrow<T>(static_cast<A>(widen(*p)) + acc) : narrow<T>(acc);
  }
}

// ---------------- dispatch ----------------

// gridDim.y (row tiles) and gridDim.z (batches) are limited to 65535, so a
// larger product is launched once per chunk of rows and of batches, with the
// operands' pointers moved to the chunk's first row and batch. `launch(g,
// batch, a, b, c)` runs one grid of `tile_m`-row tiles for that chunk.
constexpr int64_t kMaxGridYZ = 65535;
template <class T, class Launch>
void launch_in_chunks(const GemmArgs& g, int64_t batch, int64_t tile_m, const T* a, const T* b, T* c,
                      Launch&& launch) {
  const int64_t max_rows = kMaxGridYZ * tile_m;
  for (int64_t z = 0; z < batch; z += kMaxGridYZ) {
    const int64_t nz = batch - z < kMaxGridYZ ? batch - z : kMaxGridYZ;
    for (int64_t m = 0; m < g.M; m += max_rows) {
      GemmArgs gc = g;
      gc.M = g.M - m < max_rows ? g.M - m : max_rows;
      launch(gc, nz, a + z * g.a_bs + m * g.a_rs, b + z * g.b_bs, c + z * g.o_bs + m * g.o_rs);
    }
  }
}

// VEC_BK: the K step of the float4 path. The scalar path keeps 8: with 16 its
// 128x128 tiles need more than 255 registers and spill.
template <int BM, int BN, int TM, int TN, int VEC_BK>
void launch_sgemm(const GemmArgs& g, int64_t batch, const float* a, const float* b, float* c) {
  dim3 grid(static_cast<unsigned>(ceil_div(g.N, BN)), static_cast<unsigned>(ceil_div(g.M, BM)),
            static_cast<unsigned>(batch));
  constexpr int kThreads = (BM / TM) * (BN / TN);
  constexpr bool kCanVec = (BM * VEC_BK / kThreads) % 4 == 0 && (BN * VEC_BK / kThreads) % 4 == 0;
  const bool vec = g.a_cs == 1 && g.b_cs == 1 && g.K % 4 == 0 && g.N % 4 == 0 && g.a_rs % 4 == 0 &&
                   g.b_rs % 4 == 0 && g.a_bs % 4 == 0 && g.b_bs % 4 == 0 &&
                   reinterpret_cast<uintptr_t>(a) % 16 == 0 && reinterpret_cast<uintptr_t>(b) % 16 == 0;
  if (kCanVec && vec) sgemm_kernel<BM, BN, VEC_BK, TM, TN, kCanVec><<<grid, kThreads, 0, stream()>>>(g, a, b, c);
  else sgemm_kernel<BM, BN, 8, TM, TN, false><<<grid, kThreads, 0, stream()>>>(g, a, b, c);
  EMBER_CUDA_LAUNCH_CHECK("sgemm_kernel");
}

// ---------------- float32 split-K ----------------
//
// A float32 product with too few 128x128 output tiles to fill the GPU
// (1024²: 64 tiles for 132 SMs on an H200) and a deep K: K is cut into
// slices, each multiplied by the 128x128 SGEMM into its own slab of a
// workspace, then one pass sums the slabs in slice order into C (no
// atomics, so the result never depends on scheduling). The alternative,
// 64x64 tiles, measured 0.63x cuBLAS at 1024² on an H100.

// How many K slices: enough blocks for about one wave, each slice at least
// 512 deep; 1 = no split.
int64_t split_k_slices(const GemmArgs& g, int64_t batch) {
  const int64_t tiles = ceil_div(g.M, int64_t(128)) * ceil_div(g.N, int64_t(128)) * batch;
  const int64_t sms = sm_count();
  if (tiles >= sms) return 1;
  int64_t slices = sms / tiles;
  if (slices > 8) slices = 8;
  if (slices > g.K / 512) slices = g.K / 512;
  return slices >= 2 ? slices : 1;
}

__global__ void sum_slices_kernel(const float* __restrict__ slabs, int64_t slices, int64_t batch, GemmArgs g,
                                  float* __restrict__ C) {
  const int64_t per_batch = g.M * g.N, total = batch * per_batch;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    float v = 0.f;
    for (int64_t s = 0; s < slices; ++s) v += slabs[s * total + i];
    const int64_t b = i / per_batch, r = i % per_batch;
    float* p = C + b * g.o_bs + (r / g.N) * g.o_rs + (r % g.N) * g.o_cs;
    *p = g.accumulate ? *p + v : v;
  }
}

void sgemm_split_k(const GemmArgs& g, int64_t batch, int64_t slices, const float* a, const float* b, float* c,
                   int device) {
  const int64_t total = batch * g.M * g.N;
  Workspace ws(size_t(slices * total) * sizeof(float), device);
  for (int64_t s = 0; s < slices; ++s) {
    // Slice boundaries on multiples of 16 (the kernels' K step), so the
    // float4 path's alignment carries over to every slice.
    const int64_t k0 = g.K * s / slices / 16 * 16, k1 = s + 1 == slices ? g.K : g.K * (s + 1) / slices / 16 * 16;
    GemmArgs gs = g;
    gs.K = k1 - k0;
    gs.o_bs = g.M * g.N, gs.o_rs = g.N, gs.o_cs = 1;
    gs.accumulate = false;
    launch_sgemm<128, 128, 8, 8, 16>(gs, batch, a + k0 * g.a_cs, b + k0 * g.b_rs, ws.as<float>() + s * total);
  }
  sum_slices_kernel<<<grid_for(total), kThreads, 0, stream()>>>(ws.as<float>(), slices, batch, g, c);
  EMBER_CUDA_LAUNCH_CHECK("sum_slices_kernel");
}

void matmul_cuda(const Tensor& out, const Tensor& a, const Tensor& b, bool accumulate) {
  EMBER_CHECK(a->ndim() == 3 && b->ndim() == 3 && out->ndim() == 3, Error,
              "CUDA matmul expects 3-D operands, got ", shape_str(a->shape), " and ", shape_str(b->shape));
  const int64_t batch = out->shape[0];
  GemmArgs g;
  g.M = a->shape[1];
  g.K = a->shape[2];
  g.N = b->shape[2];
  // A size-1 batch dim may carry any stride; make it harmless.
  g.a_bs = a->shape[0] == 1 ? 0 : a->strides[0];
  g.a_rs = a->strides[1];
  g.a_cs = a->strides[2];
  g.b_bs = b->shape[0] == 1 ? 0 : b->strides[0];
  g.b_rs = b->strides[1];
  g.b_cs = b->strides[2];
  g.o_bs = out->strides[0];
  g.o_rs = out->strides[1];
  g.o_cs = out->strides[2];
  g.accumulate = accumulate;
  if (batch == 0 || g.M == 0 || g.N == 0) return;
  if (g.K == 0) {
    if (!accumulate) fill_cuda(out, Scalar(0.0));
    return;
  }
  switch (a->dtype) {
    case DType::Float32: {
      const float* pa = data_ptr<float>(a);
      const float* pb = data_ptr<float>(b);
      float* pc = data_ptr<float>(out);
      if (float32_matmul_allows_tf32() && compute_capability_major() >= 8) {
        launch_in_chunks(g, batch, 128, pa, pb, pc, [](const GemmArgs& gc, int64_t nz, const float* x, const float* y,
                                                         float* z) { matmul_tf32(gc, nz, x, y, z); });
        break;
      }
      const int64_t slices = batch < kMaxGridYZ && g.M <= 128 * kMaxGridYZ ? split_k_slices(g, batch) : 1;
      if (slices > 1) {
        sgemm_split_k(g, batch, slices, pa, pb, pc, out->device().index);
        break;
      }
      const int64_t big_tiles = ceil_div(g.M, 128) * ceil_div(g.N, 128) * batch;
      // K steps of 16 for the large tiles' float4 path (4096-8192²: 0.79 ->
      // 0.84 of cuBLAS on an H100); the small tiles lost with 16 and keep 8.
      if (big_tiles >= sm_count()) launch_in_chunks(g, batch, 128, pa, pb, pc, launch_sgemm<128, 128, 8, 8, 16>);
      else launch_in_chunks(g, batch, 64, pa, pb, pc, launch_sgemm<64, 64, 4, 4, 8>);
      break;
    }
    case DType::Float16:
    case DType::BFloat16: {
      dispatch_floating(a->dtype, "matmul", [&](auto tag) {
        using T = typename decltype(tag)::type;
        if constexpr (IsHalfLike<T>::value) {
          launch_in_chunks(g, batch, 128, data_ptr<T>(a), data_ptr<T>(b), data_ptr<T>(out),
                           [](const GemmArgs& gc, int64_t nz, const T* pa, const T* pb, T* pc) {
            if (matmul_hopper(gc, nz, pa, pb, pc)) return;
            if (try_wmma_async(gc, nz, pa, pb, pc)) return;
            const bool a_vec = gc.a_cs == 1 && gc.K % 8 == 0 && gc.a_rs % 8 == 0 && gc.a_bs % 8 == 0 &&
                               reinterpret_cast<uintptr_t>(pa) % 16 == 0;
            const bool b_vec = gc.b_cs == 1 && gc.N % 8 == 0 && gc.b_rs % 8 == 0 && gc.b_bs % 8 == 0 &&
                               reinterpret_cast<uintptr_t>(pb) % 16 == 0;
            dim3 grid(static_cast<unsigned>(ceil_div(gc.N, 128)), static_cast<unsigned>(ceil_div(gc.M, 128)),
                      static_cast<unsigned>(nz));
            wmma_gemm_kernel<T><<<grid, 256, 0, stream()>>>(gc, pa, pb, pc, a_vec, b_vec);
            EMBER_CUDA_LAUNCH_CHECK("wmma_gemm_kernel");
          });
        }
      });
      break;
    }
    case DType::Bool:
      throw TypeError("matmul on CUDA is not implemented for bool");
    default:
      dispatch_all(a->dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        if constexpr (!std::is_same<T, bool>::value && !IsHalfLike<T>::value && !std::is_same<T, float>::value) {
          using A = typename std::conditional<std::is_floating_point<T>::value, double, int64_t>::type;
          launch_in_chunks(g, batch, 16, data_ptr<T>(a), data_ptr<T>(b), data_ptr<T>(out),
                           [](const GemmArgs& gc, int64_t nz, const T* pa, const T* pb, T* pc) {
            dim3 grid(static_cast<unsigned>(ceil_div(gc.N, 16)), static_cast<unsigned>(ceil_div(gc.M, 16)),
                      static_cast<unsigned>(nz));
            tiled_gemm_kernel<T, A><<<grid, 256, 0, stream()>>>(gc, pa, pb, pc);
            EMBER_CUDA_LAUNCH_CHECK("tiled_gemm_kernel");
          });
        }
      });
  }
}

}  // namespace cuda
}  // namespace ember
