// 16-bit matmul on Hopper's tensor cores: wgmma fed by TMA (issue 18).
//
//   warpgroup 0     the producer: one thread issues the TMA copies of the
//                   next A and B tiles into a ring of STAGES shared-memory
//                   stages, each completing on that stage's `full` mbarrier;
//   warpgroups 1-2  the consumers: each multiplies 64 of the block's 128
//                   rows by all BN columns with wgmma.m64nBNk16 (A and B
//                   read from shared memory through matrix descriptors,
//                   float32 accumulators in registers), then arrives on the
//                   stage's `empty` mbarrier so that the producer may refill
//                   it, and at the end of a tile writes it out (bounds,
//                   accumulate, rounding to the input dtype).
//
// A persistent grid (one block per SM) walks the output tiles of every
// batch. Tiles are 128 x BN x 64: one K step is 64 16-bit elements, one
// 128-byte row of the 128-byte swizzle that TMA writes and the descriptors
// read. TMA zero-fills what lies outside the operands, so ragged M, N and K
// need no code. Registers move to the consumers (setmaxnreg: 40 for the
// producer, 232 for each consumer thread).
//
// Operands: both K-contiguous (A row-major [M, K], B as [N, K] row-major,
// i.e. the x @ W.T of Linear and a @ b.T), 16-byte aligned rows and
// batches; anything else is left to the sm_80 kernels (matmul.cu).
// sm_90a only: the device code is compiled for that target alone
// (__CUDA_ARCH_FEAT_SM90_ALL) and the host dispatches only where that
// machine code exists (EMBER_CUDA_SM90A) and the GPU is compute 9.0.
//
// Not yet run on a GPU: opt-in (EMBER_CUDA_WGMMA=1) until the GPU issue's
// run has checked it against the CPU backend; EMBER_CUDA_WGMMA_TILE picks
// the tile (bench/hopper_gemm.py sweeps them).
#include <cuda.h>
#include <cudaTypedefs.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "cuda/common.cuh"
#include "cuda/gemm_args.h"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#include "cuda/wgmma_ops.cuh"
#define EMBER_HOPPER_DEVICE 1
#endif

namespace ember {
namespace cuda {

namespace {

constexpr int kBM = 128;       // block rows: two consumer warpgroups of 64
constexpr int kBK = 64;        // 64 16-bit elements: one 128-byte swizzle row
constexpr int kThreads = 384;  // three warpgroups

template <int BN, int STAGES>
struct HopperShape {
  static constexpr int kATile = kBM * kBK * 2;  // bytes
  static constexpr int kBTile = BN * kBK * 2;
  static constexpr int kStage = kATile + kBTile;
  // + 1024 to align the first tile (128-byte swizzled tiles start on 1024-byte
  // boundaries), + the two mbarriers of every stage.
  static constexpr int kSmem = STAGES * kStage + 1024 + 2 * STAGES * 8;
};

#ifdef EMBER_HOPPER_DEVICE
__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void mbar_init(uint64_t* bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count));
}
__device__ __forceinline__ void mbar_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_addr(bar)) : "memory");
}
// Blocks until the phase of parity `parity` has completed.
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred done;\nWAIT:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT;\n}\n" ::"r"(smem_addr(bar)),
      "r"(parity)
      : "memory");
}
__device__ __forceinline__ void tma_load_3d(void* dst, const CUtensorMap* map, uint64_t* bar, int c0, int c1, int c2) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], "
      "[%5];\n" ::"r"(smem_addr(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(smem_addr(bar))
      : "memory");
}
// A K-major tile in the 128-byte swizzle: rows of 128 bytes, 8-row groups
// 1024 bytes apart (the stride byte offset); the leading byte offset is
// unused for this layout. Adding 2 moves the start 32 bytes (16 elements)
// along K, within the swizzle row.
__device__ __forceinline__ uint64_t sw128_desc(const void* tile) {
  const uint64_t addr = smem_addr(tile);
  return ((addr & 0x3FFFF) >> 4) | (uint64_t(1) << 16) | (uint64_t(1024 >> 4) << 32) | (uint64_t(1) << 62);
}
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_wait_all() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }
// Keeps the compiler from moving reads of an accumulator above the wait.
__device__ __forceinline__ void fence_register(float& r) { asm volatile("" : "+f"(r)::"memory"); }

template <class T, int BN>
__device__ __forceinline__ void mma_k16(float (&d)[BN / 2], uint64_t da, uint64_t db, int accumulate) {
  if constexpr (BN == 128) {
    if constexpr (std::is_same<T, bf16_t>::value) wgmma_m64n128k16_bf16(d, da, db, accumulate);
    else wgmma_m64n128k16_f16(d, da, db, accumulate);
  } else {
    if constexpr (std::is_same<T, bf16_t>::value) wgmma_m64n256k16_bf16(d, da, db, accumulate);
    else wgmma_m64n256k16_f16(d, da, db, accumulate);
  }
}
struct TileIndex {
  int64_t batch, m0, n0;
};
__device__ __forceinline__ TileIndex tile_at(int64_t t, int64_t tiles_m, int64_t tiles_n, int bn) {
  const int64_t per_batch = tiles_m * tiles_n, r = t % per_batch;
  return {t / per_batch, (r / tiles_n) * kBM, (r % tiles_n) * bn};
}
#endif  // EMBER_HOPPER_DEVICE

template <class T, int BN, int STAGES>
__global__ void __launch_bounds__(kThreads, 1)
    hopper_gemm_kernel(const __grid_constant__ CUtensorMap map_a, const __grid_constant__ CUtensorMap map_b,
                       GemmArgs g, int64_t batch, T* __restrict__ C) {
#ifdef EMBER_HOPPER_DEVICE
  using S = HopperShape<BN, STAGES>;
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem =
      reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + STAGES * S::kStage);
  uint64_t* empty = full + STAGES;
  const int wg = threadIdx.x / 128, lane_in_wg = threadIdx.x % 128;
  if (threadIdx.x == 0) {
    for (int s = 0; s < STAGES; ++s) {
      mbar_init(&full[s], 1);   // the producer's expect_tx arrival (+ the copies' bytes)
      mbar_init(&empty[s], 2);  // one arrival per consumer warpgroup
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  const int64_t tiles_m = ceil_div(g.M, int64_t(kBM)), tiles_n = ceil_div(g.N, int64_t(BN));
  const int64_t tiles = batch * tiles_m * tiles_n;
  const int ksteps = static_cast<int>(ceil_div(g.K, int64_t(kBK)));
  if (wg == 0) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
    if (lane_in_wg != 0) return;
    int stage = 0;
    uint32_t phase = 0;
    for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
      const TileIndex ti = tile_at(t, tiles_m, tiles_n, BN);
      for (int k = 0; k < ksteps; ++k) {
        mbar_wait(&empty[stage], phase ^ 1);  // the first round passes: no consumer has used the stage yet
        mbar_expect_tx(&full[stage], S::kStage);
        unsigned char* st = smem + stage * S::kStage;
        tma_load_3d(st, &map_a, &full[stage], k * kBK, static_cast<int>(ti.m0), g.a_bs ? static_cast<int>(ti.batch) : 0);
        tma_load_3d(st + S::kATile, &map_b, &full[stage], k * kBK, static_cast<int>(ti.n0),
                    g.b_bs ? static_cast<int>(ti.batch) : 0);
        if (++stage == STAGES) stage = 0, phase ^= 1;
      }
    }
    return;
  }
  asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
  constexpr int kRegs = BN / 2;  // m64nBN float32 accumulators per thread
  float acc[kRegs];
  const int rows = (wg - 1) * 64;  // this warpgroup's rows of the block
  const int warp = lane_in_wg / 32, lane = lane_in_wg % 32;
  int stage = 0;
  uint32_t phase = 0;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const TileIndex ti = tile_at(t, tiles_m, tiles_n, BN);
#pragma unroll
    for (int r = 0; r < kRegs; ++r) acc[r] = 0.f;  // (the first wgmma overwrites them; defined all the same)
    for (int k = 0; k < ksteps; ++k) {
      mbar_wait(&full[stage], phase);
      unsigned char* st = smem + stage * S::kStage;
      const uint64_t da = sw128_desc(st + rows * 128), db = sw128_desc(st + S::kATile);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < kBK / 16; ++kk) mma_k16<T, BN>(acc, da + 2 * kk, db + 2 * kk, k > 0 || kk > 0);
      wgmma_commit();
      wgmma_wait_all();
#pragma unroll
      for (int r = 0; r < kRegs; ++r) fence_register(acc[r]);
      if (lane_in_wg == 0) mbar_arrive(&empty[stage]);
      if (++stage == STAGES) stage = 0, phase ^= 1;
    }
    // The accumulator layout of m64nNk16: thread (warp, lane) holds rows
    // warp*16 + lane/4 and +8, columns 8j + 2*(lane%4) and +1.
    T* Cb = C + ti.batch * g.o_bs;
#pragma unroll
    for (int j = 0; j < BN / 8; ++j)
#pragma unroll
      for (int h = 0; h < 2; ++h)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int64_t m = ti.m0 + rows + warp * 16 + lane / 4 + 8 * h, n = ti.n0 + 8 * j + 2 * (lane % 4) + e;
          if (m < g.M && n < g.N) {
            T* p = Cb + m * g.o_rs + n * g.o_cs;
            float v = acc[4 * j + 2 * h + e];
            if (g.accumulate) v += widen(*p);
            *p = narrow<T>(v);
          }
        }
  }
#else
  __trap();  // dispatched only where the sm_90a machine code exists (matmul_hopper)
#endif
}

using EncodeTiled = PFN_cuTensorMapEncodeTiled_v12000;

// cuTensorMapEncodeTiled from the driver, through the runtime (no link
// against libcuda); null where the driver lacks it.
EncodeTiled encode_tiled() {
  static const EncodeTiled fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult found;
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &found) !=
            cudaSuccess ||
        found != cudaDriverEntryPointSuccess)
      p = nullptr;
    return reinterpret_cast<EncodeTiled>(p);
  }();
  return fn;
}

// The TMA map of a K-contiguous operand: [batch][rows][K] with row stride rs
// and batch stride bs (elements; bs == 0: one matrix for every batch),
// boxes of box_rows x 64 in the 128-byte swizzle.
template <class T>
bool encode_operand(CUtensorMap* map, const T* base, int64_t rows, int64_t K, int64_t rs, int64_t bs, int64_t batch,
                    int box_rows) {
  const EncodeTiled encode = encode_tiled();
  if (!encode) return false;
  const CUtensorMapDataType dt =
      std::is_same<T, bf16_t>::value ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  const cuuint64_t dims[3] = {cuuint64_t(K), cuuint64_t(rows), cuuint64_t(bs ? batch : 1)};
  const cuuint64_t strides[2] = {cuuint64_t(rs) * 2, cuuint64_t(bs ? bs : rs * rows) * 2};  // bytes, dims 1 and 2
  const cuuint32_t box[3] = {cuuint32_t(kBK), cuuint32_t(box_rows), 1};
  const cuuint32_t elem_strides[3] = {1, 1, 1};
  return encode(map, dt, 3, const_cast<T*>(base), dims, strides, box, elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

template <class T, int BN, int STAGES>
bool launch_hopper(const GemmArgs& g, int64_t batch, const T* a, const T* b, T* c) {
  using S = HopperShape<BN, STAGES>;
  CUtensorMap map_a, map_b;
  if (!encode_operand(&map_a, a, g.M, g.K, g.a_rs, g.a_bs, batch, kBM) ||
      !encode_operand(&map_b, b, g.N, g.K, g.b_cs, g.b_bs, batch, BN))
    return false;
  auto kernel = hopper_gemm_kernel<T, BN, STAGES>;
  EMBER_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, S::kSmem));
  const int64_t tiles = batch * ceil_div(g.M, int64_t(kBM)) * ceil_div(g.N, int64_t(BN));
  const unsigned blocks = static_cast<unsigned>(tiles < sm_count() ? tiles : sm_count());
  kernel<<<blocks, kThreads, S::kSmem, stream()>>>(map_a, map_b, g, batch, c);
  EMBER_CUDA_LAUNCH_CHECK("hopper_gemm_kernel");
  return true;
}

// Whether TMA can describe an operand: 16-byte aligned base, row and batch strides.
template <class T>
bool tma_describable(const T* base, int64_t rs, int64_t bs) {
  return reinterpret_cast<uintptr_t>(base) % 16 == 0 && (rs * 2) % 16 == 0 && (bs * 2) % 16 == 0;
}

}  // namespace

template <class T>
bool matmul_hopper(const GemmArgs& g, int64_t batch, const T* a, const T* b, T* c) {
#ifndef EMBER_CUDA_SM90A
  (void)g, (void)batch, (void)a, (void)b, (void)c;
  return false;
#else
  const char* opt_in = std::getenv("EMBER_CUDA_WGMMA");
  if (!opt_in || std::strcmp(opt_in, "1") != 0) return false;
  if (compute_capability_major() != 9) return false;
  // Both operands K-contiguous; sizes TMA's 32-bit coordinates can address.
  if (g.a_cs != 1 || g.b_rs != 1 || !tma_describable(a, g.a_rs, g.a_bs) || !tma_describable(b, g.b_cs, g.b_bs))
    return false;
  if (g.M >= (int64_t(1) << 31) || g.N >= (int64_t(1) << 31) || g.K >= (int64_t(1) << 31) || batch >= (int64_t(1) << 31))
    return false;
  const char* tile = std::getenv("EMBER_CUDA_WGMMA_TILE");
  const std::string t = tile ? tile : "128x128s4";
  if (t == "128x128s6") return launch_hopper<T, 128, 6>(g, batch, a, b, c);
  if (t == "128x256s3") return launch_hopper<T, 256, 3>(g, batch, a, b, c);
  if (t == "128x256s4") return launch_hopper<T, 256, 4>(g, batch, a, b, c);
  return launch_hopper<T, 128, 4>(g, batch, a, b, c);
#endif
}

template bool matmul_hopper<half_t>(const GemmArgs&, int64_t, const half_t*, const half_t*, half_t*);
template bool matmul_hopper<bf16_t>(const GemmArgs&, int64_t, const bf16_t*, const bf16_t*, bf16_t*);

}  // namespace cuda
}  // namespace ember
