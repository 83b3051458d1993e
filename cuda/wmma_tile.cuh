// WMMA tile helpers shared by the tensor-core GEMMs (cuda/matmul.cu's
// float16/bfloat16 kernels, cuda/matmul_tf32.cu): a block's tile of an
// operand into shared memory, and a warp's accumulators out to C.
#pragma once
#include <mma.h>

#include "cuda/common.cuh"
#include "cuda/gemm_args.h"

namespace ember {
namespace cuda {

namespace wmma = nvcuda::wmma;

// One ROWS x COLS tile of a matrix, from (r0, c0), into shared memory of
// row pitch LD, with zeros outside the matrix's rows x cols; 256 threads
// share the copy. With `vec` (16-bit types only: unit column stride, row
// stride and cols multiples of 8, 16-byte aligned base) each thread moves 8
// elements per load.
template <int ROWS, int COLS, int LD, class T>
__device__ __forceinline__ void load_tile(T (*dst)[LD], const T* __restrict__ src, int64_t r0, int64_t c0,
                                          int64_t rows, int64_t cols, int64_t rs, int64_t cs, bool vec, int tid,
                                          T zero) {
  if (vec) {
    for (int e = tid; e < ROWS * COLS / 8; e += 256) {
      const int r = e / (COLS / 8), c = (e % (COLS / 8)) * 8;
      const int64_t gr = r0 + r, gc = c0 + c;
      uint4 v = make_uint4(0, 0, 0, 0);
      if (gr < rows && gc < cols) v = *reinterpret_cast<const uint4*>(src + gr * rs + gc);
      *reinterpret_cast<uint4*>(&dst[r][c]) = v;
    }
  } else {
    for (int e = tid; e < ROWS * COLS; e += 256) {
      const int r = e / COLS, c = e % COLS;
      const int64_t gr = r0 + r, gc = c0 + c;
      dst[r][c] = (gr < rows && gc < cols) ? src[gr * rs + gc * cs] : zero;
    }
  }
}

// A warp's FM x FN accumulator fragments of 16x16 (any K: 16 for the 16-bit
// kernels, 8 for TF32) to C, rows from r0 and columns from c0, through its
// 16x16 float scratch in shared memory: bounds, accumulate, convert.
template <class T, int FM, int FN, class Acc>
__device__ __forceinline__ void store_warp_tile(Acc (&acc)[FM][FN], float* scratch, T* __restrict__ C,
                                                const GemmArgs& g, int64_t r0, int64_t c0, int lane) {
#pragma unroll
  for (int i = 0; i < FM; ++i) {
#pragma unroll
    for (int j = 0; j < FN; ++j) {
      wmma::store_matrix_sync(scratch, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        const int64_t gm = r0 + i * 16 + e / 16, gn = c0 + j * 16 + e % 16;
        if (gm < g.M && gn < g.N) {
          T* p = C + gm * g.o_rs + gn * g.o_cs;
          float v = scratch[e];
          if (g.accumulate) v += widen(*p);
          *p = narrow<T>(v);
        }
      }
      __syncwarp();
    }
  }
}

}  // namespace cuda
}  // namespace ember
