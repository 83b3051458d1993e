// Splitting a large copy into pieces that the CPU threads take in turn.
//
// Used for the bytes of loads and snapshots. Unlike the kernels'
// parallel_for, the pieces are claimed dynamically and the thread count
// ignores the load average: when a second thread does not get a core, the
// first simply takes every piece, so nothing waits on a thread that is not
// running.
#pragma once
#include <omp.h>

#include <cstdint>
#include <exception>
#include <mutex>

#include "../ops/ops.h"

namespace ember::io {

// Calls fn(i) for i in [0, n), on up to get_num_threads() threads. The first
// exception thrown by fn is rethrown after every piece has been tried.
template <typename F>
void for_each_piece(int64_t n, F&& fn) {
  const int threads = int(std::min<int64_t>(n, get_num_threads()));
  if (threads <= 1 || omp_in_parallel()) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::exception_ptr failure;
  std::mutex failure_mutex;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t i = 0; i < n; ++i) {
    try {
      fn(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace ember::io
