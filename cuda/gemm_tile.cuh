// Register-blocked GEMM tile helpers shared by the float32 SGEMM
// (cuda/matmul.cu) and the implicit-GEMM convolutions (cuda/conv.cu): which
// rows and columns of a shared-memory tile each thread accumulates, and the
// vector loads that bring its fragment into registers.
#pragma once

namespace ember {
namespace cuda {

// Row (or column) of the tile that a thread's i-th accumulator covers. With
// 8 per thread they come as two groups of 4, half a tile apart: the float4
// reads of the shared tiles of a quarter warp then hit distinct banks.
template <int TILE, int T_PER>
__device__ __forceinline__ int sgemm_slot(int t, int i) {
  if constexpr (T_PER == 8) return (i / 4) * (TILE / 2) + t * 4 + i % 4;
  else return t * T_PER + i;
}

// Elements of T in one vector load of a thread's fragment: up to 16 bytes,
// no more than the thread's PER accumulators along that side.
template <class T, int PER>
struct FragmentVec {
  static constexpr int kWidth = (16 / int(sizeof(T))) < PER ? 16 / int(sizeof(T)) : PER;
  struct alignas(kWidth * sizeof(T)) type {
    T v[kWidth];
  };
};

// frag[i] = row[sgemm_slot<TILE, PER>(t, i)] for i < PER, as vector loads
// (the slots come in aligned runs of kWidth; `row` is 16-byte aligned).
template <class T, int TILE, int PER>
__device__ __forceinline__ void load_fragment(T (&frag)[PER], const T* row, int t) {
  using V = FragmentVec<T, PER>;
#pragma unroll
  for (int i = 0; i < PER; i += V::kWidth)
    *reinterpret_cast<typename V::type*>(&frag[i]) =
        *reinterpret_cast<const typename V::type*>(row + sgemm_slot<TILE, PER>(t, i));
}

}  // namespace cuda
}  // namespace ember
