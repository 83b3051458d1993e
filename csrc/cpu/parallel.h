// Work splitting for CPU kernels: OpenMP for large ranges, a plain call for
// small ones (so tiny tensors never pay for a thread team).
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace ember::cpu {

// Elements below which a kernel stays on one thread. Compute-bound loops
// (exp, sin, random numbers, softmax rows) pay for a thread team early.
constexpr int64_t kParallelGrain = 32768;
// Memory-bound loops (copies, add, mul, relu, sums) move 8-12 bytes per
// element at a few GB/s per core: below ~1 MB per operand one core finishes
// in about the time it takes to wake a second one.
constexpr int64_t kMemoryBoundGrain = 262144;

// Threads a region may use now: the configured count (OMP_NUM_THREADS or
// the cores), or 1 while other processes keep every core busy, and always 1
// in a forked child (parallel.cpp). Also sets OpenMP's default for regions
// that ask omp_get_max_threads(). Every `omp parallel` in csrc/cpu/ must be
// reached only when this returned more than 1: that is what keeps forked
// children (DataLoader workers) out of OpenMP's team code.
int thread_budget();

// Calls fn(begin, end) over [0, n) in chunks, in parallel when n >= grain.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  if (n < grain || omp_in_parallel()) {
    fn(int64_t(0), n);
    return;
  }
  int threads = thread_budget();
  if (threads <= 1) {
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
