// Random fills from the shared Philox stream (csrc/philox.h), so that a seed
// gives the same numbers on the CPU and on CUDA.
#include "../philox.h"

#include "dispatch.h"
#include "kernels.h"
#include "parallel.h"

namespace ember::cpu {

namespace {
// Fills a contiguous tensor: value(i) for element i, in parallel by blocks of 4.
template <typename F>
void fill_indexed(const Tensor& out, F value) {
  dispatch_floating(out->dtype, "random fill", [&](auto tag) {
    using T = decltype(tag);
    T* o = out->data<T>();
    parallel_for(out->numel(), kParallelGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) o[i] = static_cast<T>(value(i, T{}));
    });
  });
}
}  // namespace

void uniform(const Tensor& out, double lo, double hi, uint64_t seed, uint64_t offset) {
  fill_indexed(out, [=](int64_t i, auto tag) {
    uint32_t w = philox::word(seed, offset, static_cast<uint64_t>(i));
    using T = decltype(tag);
    double u = std::is_same_v<T, float> ? philox::to_uniform_float(w) : philox::to_uniform_double(w);
    return lo + (hi - lo) * u;
  });
}

void normal(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) {
  fill_indexed(out, [=](int64_t i, auto) { return mean + std * philox::normal(seed, offset, static_cast<uint64_t>(i)); });
}

}  // namespace ember::cpu
