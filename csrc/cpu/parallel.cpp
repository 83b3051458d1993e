// How many threads a CPU parallel region may use right now.
//
// On a machine whose cores are all busy (other processes runnable), a
// second thread rarely gets a core when the region starts: the calling
// thread then waits at the region's barrier for a thread that is not
// running, and a 1 ms kernel can take 10 ms. So the budget drops to one
// thread while the one-minute load average says the cores are taken, and
// returns to the configured count (OMP_NUM_THREADS or the core count) when
// they are free again. The load average is re-read at most every 250 ms.
//
// A process forked from one that has run a parallel region gets a budget of
// one thread for good: GNU OpenMP keeps its thread pool across fork() without
// the threads themselves, and the child's first team waits forever for them.
// Every region in csrc/cpu/ asks thread_budget() first and stays serial (no
// `omp parallel` at all) when it says 1, so a DataLoader worker never enters
// libgomp's team code.
#include "parallel.h"

#include <pthread.h>

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
// Set in the child of a fork(); see the header comment.
std::atomic<bool> forked_child{false};

// Runs in the child, in the thread that called fork() (the only one left),
// before fork() returns there. Only stores: no lock, no allocation.
void reset_threads_in_forked_child() {
  forked_child.store(true, std::memory_order_relaxed);
  configured.store(1, std::memory_order_relaxed);
  generation.fetch_add(1, std::memory_order_relaxed);
  // Regions that size themselves from OpenMP's default see one thread too.
  omp_set_num_threads(1);
}

// Registered before the first parallel region can start (every region asks
// thread_budget() first), so any fork that could inherit a pool resets it.
bool register_fork_handler() {
  pthread_atfork(nullptr, nullptr, reset_threads_in_forked_child);
  return true;
}

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
  static const bool fork_handler_registered = register_fork_handler();
  (void)fork_handler_registered;
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
  if (n > 1 && cpu::forked_child.load(std::memory_order_relaxed))
    throw Error(str("set_num_threads(", n, ") in a forked process (such as a DataLoader worker): GNU OpenMP cannot ",
                    "start threads in the child of a process that has used them, so ember keeps one thread here; ",
                    "start the processes with multiprocessing's 'spawn' or 'forkserver' method to use more"));
  cpu::configured.store(n, std::memory_order_relaxed);
  cpu::generation.fetch_add(1, std::memory_order_relaxed);
}

int get_num_threads() { return cpu::configured_threads(); }

}  // namespace ember
