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

#include <chrono>
#include <cstdlib>

namespace ember::cpu {

namespace {

int configured_threads() {
  static const int n = omp_get_max_threads();  // first call: OMP_NUM_THREADS or the core count
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
  const int configured = configured_threads();
  if (configured <= 1) return 1;
  Clock::time_point now = Clock::now();
  if (budget == 0 || now >= next_check) {
    budget = machine_oversubscribed(configured) ? 1 : configured;
    next_check = now + std::chrono::milliseconds(250);
    // Regions that ask OpenMP directly (the GEMM) follow the same budget.
    omp_set_num_threads(budget);
  }
  return budget;
}

}  // namespace ember::cpu
