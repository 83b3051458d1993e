// Random fills from the shared Philox stream (csrc/philox.h), so that a seed
// gives the same numbers on the CPU and on CUDA.
#include "../philox.h"

#include "dispatch.h"
#include "kernels.h"
#include "parallel.h"

namespace ember::cpu {

namespace {
// Fills a contiguous float tensor one Philox block (4 elements) at a time:
// value(block, word) gives element 4 * b + word. Blocks split across threads.
template <typename F>
void fill_blocks(const Tensor& out, uint64_t seed, uint64_t offset, F value) {
  dispatch_floating(out->dtype, "random fill", [&](auto tag) {
    using T = decltype(tag);
    T* o = out->data<T>();
    int64_t n = out->numel();
    int64_t blocks = (n + 3) / 4;
    parallel_for(blocks, kParallelGrain / 4, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        philox::Block blk = philox::block(seed, offset + static_cast<uint64_t>(b));
        int64_t base = 4 * b;
        int64_t words = std::min<int64_t>(4, n - base);
        for (int64_t k = 0; k < words; ++k) o[base + k] = static_cast<T>(value(blk, static_cast<int>(k), T{}));
      }
    });
  });
}
}  // namespace

void uniform(const Tensor& out, double lo, double hi, uint64_t seed, uint64_t offset) {
  fill_blocks(out, seed, offset, [=](const philox::Block& blk, int k, auto tag) {
    using T = decltype(tag);
    double u = std::is_same_v<T, float> ? philox::to_uniform_float(blk.w[k]) : philox::to_uniform_double(blk.w[k]);
    return lo + (hi - lo) * u;
  });
}

void normal(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) {
  fill_blocks(out, seed, offset,
              [=](const philox::Block& blk, int k, auto) { return mean + std * philox::to_normal(blk, k); });
}

}  // namespace ember::cpu
