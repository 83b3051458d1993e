// How many threads a CPU parallel region may use right now.
//
// On a machine whose cores are all busy (other processes runnable), a
// second thread rarely gets a core when the region starts: the calling
// thread then waits at the region's barrier for a thread that is not
// running, and a 1 ms kernel can take 10 ms. So the budget drops to one
// thread while the one-minute load average says the cores are taken, and
// returns to the configured count (OMP_NUM_THREADS or the core count) when
// they are free again. The load average is re-read at most every 250 ms.
#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>

#include "../error.h"
#include "../ops/ops.h"

namespace ember::cpu {

namespace {

// 0 until the first use: then OMP_NUM_THREADS or the core count, or what
// set_num_threads() chose. Bumping the generation makes every thread drop
// its cached budget.
std::atomic<int> configured{0};
std::atomic<unsigned> generation{0};

int configured_threads() {
  int n = configured.load(std::memory_order_relaxed);
  if (n == 0) {
    int expected = 0;
    configured.compare_exchange_strong(expected, std::max(1, omp_get_max_threads()));
    n = configured.load(std::memory_order_relaxed);
  }
  return n;
}

bool machine_oversubscribed(int threads) {
  if (const char* v = std::getenv("EMBER_IGNORE_LOAD"); v && *v && *v != '0') return false;
  double load[1];
  if (getloadavg(load, 1) != 1) return false;
  // This process accounts for about one runnable thread itself; more than
  // half a core beyond the ones we would use means a second thread waits.
  return load[0] > threads + 0.5;
}

}  // namespace

int thread_budget() {
  using Clock = std::chrono::steady_clock;
  static thread_local Clock::time_point next_check{};
  static thread_local int budget = 0;
  static thread_local unsigned seen_generation = 0;
  const int threads = configured_threads();
  Clock::time_point now = Clock::now();
  unsigned gen = generation.load(std::memory_order_relaxed);
  if (budget == 0 || now >= next_check || gen != seen_generation) {
    seen_generation = gen;
    budget = threads > 1 && machine_oversubscribed(threads) ? 1 : threads;
    next_check = now + std::chrono::milliseconds(250);
    // Regions that ask OpenMP directly (the GEMM) follow the same budget.
    omp_set_num_threads(budget);
  }
  return budget;
}

}  // namespace ember::cpu

namespace ember {

void set_num_threads(int n) {
  if (n < 1) throw Error("set_num_threads expects a positive integer");
  // OpenMP aborts the process when it cannot create a team's threads; refuse
  // counts no machine can run instead of risking that.
  constexpr int kMaxThreads = 1024;
  if (n > kMaxThreads) throw Error(str("set_num_threads: at most ", kMaxThreads, " threads are supported, got ", n));
  cpu::configured.store(n, std::memory_order_relaxed);
  cpu::generation.fetch_add(1, std::memory_order_relaxed);
}

int get_num_threads() { return cpu::configured_threads(); }

}  // namespace ember
