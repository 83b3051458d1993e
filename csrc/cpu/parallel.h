// Work splitting for CPU kernels: OpenMP for large ranges, a plain call for
// small ones (so tiny tensors never pay for a thread team).
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace ember::cpu {

// Elements below which a kernel stays on one thread.
constexpr int64_t kParallelGrain = 32768;

// Calls fn(begin, end) over [0, n) in chunks, in parallel when n >= grain.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  int threads = omp_get_max_threads();
  if (n < grain || threads <= 1 || omp_in_parallel()) {
    fn(int64_t(0), n);
    return;
  }
  int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
    fn(begin, end);
  }
}

}  // namespace ember::cpu
