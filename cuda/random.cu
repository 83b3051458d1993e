// uniform_ and normal_ from Philox4x32-10 (csrc/philox.h, shared with the CPU): one thread per
// 4-element group, so each block cipher evaluation feeds four elements, and
// element i depends only on (seed, offset, i): the same numbers as the CPU
// backend for the same seed, whatever the layout of the output.
#include "cuda/elementwise.cuh"
#include "cuda/kernels.h"
#include "csrc/philox.h"

namespace ember {
namespace cuda {

// lo + (hi - lo) * u without fused multiply-add: nvcc would contract it on
// the device and g++ does not, so this keeps the CPU's rounding exactly.
__device__ __forceinline__ double affine_rn(double base, double scale, double u) {
  return __dadd_rn(base, __dmul_rn(scale, u));
}

template <class T, bool NORMAL>
__global__ void philox_fill_kernel(Layout<1> L, T* __restrict__ out, uint64_t seed, uint64_t offset, double p0,
                                   double p1) {
  const int64_t groups = ceil_div(L.numel, 4);
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; g < groups; g += stride) {
    const philox::Block b = philox::block(seed, offset + uint64_t(g));
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t i = g * 4 + j;
      if (i >= L.numel) break;
      double v;
      if constexpr (NORMAL) {
        v = affine_rn(p0, p1, philox::to_normal(b, j));
      } else if constexpr (std::is_same<T, float>::value) {  // 24-bit uniforms for float32, as the CPU
        v = affine_rn(p0, p1 - p0, double(philox::to_uniform_float(b.w[j])));
      } else {
        v = affine_rn(p0, p1 - p0, philox::to_uniform_double(b.w[j]));
      }
      out[L.offset(i, 0)] = narrow<T>(v);
    }
  }
}

template <bool NORMAL>
void philox_fill(const char* what, const Tensor& out, uint64_t seed, uint64_t offset, double p0, double p1) {
  const Tensor* ts[1] = {&out};
  Layout<1> L = layout_of<1>(out->shape, ts);
  if (L.numel == 0) return;
  dispatch_floating(out->dtype, what, [&](auto tag) {
    using T = typename decltype(tag)::type;
    philox_fill_kernel<T, NORMAL><<<grid_for(ceil_div(L.numel, 4)), kThreads, 0, stream()>>>(
        L, data_ptr<T>(out), seed, offset, p0, p1);
    EMBER_CUDA_LAUNCH_CHECK("philox_fill_kernel");
  });
}

void uniform_cuda(const Tensor& out, double lo, double hi, uint64_t seed, uint64_t offset) {
  philox_fill<false>("uniform_", out, seed, offset, lo, hi);
}
void normal_cuda(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) {
  philox_fill<true>("normal_", out, seed, offset, mean, std);
}

}  // namespace cuda
}  // namespace ember
