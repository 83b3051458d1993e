// bench_kernels.cpp — benchmark harness for ember's CPU kernels.
//
// Every case is first validated against a naive reference (a wrong kernel's
// speed is meaningless), then timed: warm-up runs, then the median of repeated
// runs, reported as GFLOP/s or GB/s.
//
// Adding a kernel: write a make_<kernel>_case() returning a Case (name,
// setup, reference, run, check, work) and append it in all_cases().
//
// Usage: bench_kernels [substring-filter ...] [--list]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <omp.h>

#include "csrc/backend.h"
#include "csrc/cpu/gemm.h"

namespace {

enum class Unit { Flops, Bytes };

struct Case {
  std::string name;
  std::function<void()> setup;      // allocate and fill inputs (untimed, run once)
  std::function<void()> reference;  // compute expected results naively (untimed)
  std::function<void()> run;        // the kernel under test (timed)
  // Compare run()'s output with the reference; returns an empty string when it
  // matches, else a description of the first mismatch.
  std::function<std::string()> check;
  double work = 0;  // flops or bytes moved by one run()
  Unit unit = Unit::Flops;
};

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Fixed seed so a failure reproduces; values bounded away from zero so no
// input is accidentally all-zero.
template <class T>
void fill_random(std::vector<T>& v, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> d(0.1, 1.0);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<T>((i % 2) ? d(rng) : -d(rng));
}

// ---------------------------------------------------------------------------
// gemm: C[M,N] = A[M,K] @ B[K,N], row-major. The reference computes a sample
// of entries in double (a full naive 2048^3 product would take minutes) that
// always includes the four corners, where edge-tile bugs show up.

template <class T>
Case make_gemm_case(const char* dtype, int64_t M, int64_t N, int64_t K, bool b_transposed = false) {
  struct State {
    std::vector<T> A, B, C;
    std::vector<int64_t> si, sj;
    std::vector<double> expect, mag;
  };
  auto s = std::make_shared<State>();
  // B^T layout (rsb=1, csb=K) is what x @ W.T in a Linear layer looks like.
  const int64_t rsb = b_transposed ? 1 : N, csb = b_transposed ? K : 1;
  Case c;
  c.name = std::string("gemm_") + dtype + " " + std::to_string(M) + "x" + std::to_string(N) + "x" +
           std::to_string(K) + (b_transposed ? " B^T" : "");
  c.work = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  c.unit = Unit::Flops;
  c.setup = [=] {
    s->A.resize(M * K);
    s->B.resize(K * N);
    s->C.assign(M * N, T(0));
    fill_random(s->A, 1);
    fill_random(s->B, 2);
    std::mt19937 rng(3);
    s->si = {0, 0, M - 1, M - 1};
    s->sj = {0, N - 1, 0, N - 1};
    for (int t = 0; t < 252; ++t) {
      s->si.push_back(static_cast<int64_t>(rng() % M));
      s->sj.push_back(static_cast<int64_t>(rng() % N));
    }
  };
  c.reference = [=] {
    s->expect.clear();
    s->mag.clear();
    for (size_t t = 0; t < s->si.size(); ++t) {
      double acc = 0, mag = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double p = static_cast<double>(s->A[s->si[t] * K + k]) *
                         static_cast<double>(s->B[k * rsb + s->sj[t] * csb]);
        acc += p;
        mag += std::fabs(p);
      }
      s->expect.push_back(acc);
      s->mag.push_back(mag);
    }
  };
  c.run = [=] {
    if constexpr (sizeof(T) == 4) {
      ember::cpu::gemm_f32(M, N, K, s->A.data(), K, 1, s->B.data(), rsb, csb, s->C.data(), N, 1,
                           false);
    } else {
      ember::cpu::gemm_f64(M, N, K, s->A.data(), K, 1, s->B.data(), rsb, csb, s->C.data(), N, 1,
                           false);
    }
  };
  c.check = [=]() -> std::string {
    const double eps = sizeof(T) == 4 ? 1.2e-7 : 2.3e-16;
    for (size_t t = 0; t < s->si.size(); ++t) {
      const double got = s->C[s->si[t] * N + s->sj[t]];
      const double tol = 2.0 * eps * static_cast<double>(K + 2) * s->mag[t];
      if (!(std::fabs(got - s->expect[t]) <= tol)) {
        char msg[160];
        std::snprintf(msg, sizeof msg, "C(%lld,%lld) = %.9g, expected %.9g",
                      static_cast<long long>(s->si[t]), static_cast<long long>(s->sj[t]), got,
                      s->expect[t]);
        return msg;
      }
    }
    return "";
  };
  return c;
}

// ---------------------------------------------------------------------------
// Memory-bound kernels through the CPU backend's primitives (the same calls
// the op layer makes): add, relu and sum over n float32, and a column sum
// (sum over dim 0) of a rows x cols matrix. Work is bytes moved.

ember::Tensor random_tensor(const ember::Shape& shape, uint32_t seed) {
  ember::Tensor t = ember::make_empty(shape, ember::DType::Float32, ember::Device{});
  std::vector<float> v(static_cast<size_t>(t->numel()));
  fill_random(v, seed);
  std::memcpy(t->data<float>(), v.data(), v.size() * sizeof(float));
  return t;
}

// |got - expect| <= tol[i] (or tol[0] for every element when tol has one entry).
std::string compare(const float* got, const std::vector<double>& expect, const std::vector<double>& tol) {
  for (size_t i = 0; i < expect.size(); ++i) {
    if (!(std::fabs(got[i] - expect[i]) <= tol[tol.size() == 1 ? 0 : i])) {
      char msg[128];
      std::snprintf(msg, sizeof msg, "element %zu = %.9g, expected %.9g", i, got[i], expect[i]);
      return msg;
    }
  }
  return "";
}

Case make_elementwise_case(const char* name, int64_t n, bool is_relu) {
  struct State {
    ember::Tensor a, b, out;
    std::vector<double> expect;
  };
  auto s = std::make_shared<State>();
  Case c;
  c.name = std::string(name) + " f32 " + std::to_string(n);
  c.unit = Unit::Bytes;
  c.work = (is_relu ? 2.0 : 3.0) * 4.0 * static_cast<double>(n);
  c.setup = [=] {
    s->a = random_tensor({n}, 11);
    s->b = random_tensor({n}, 12);
    s->out = ember::make_empty({n}, ember::DType::Float32, ember::Device{});
  };
  c.reference = [=] {
    s->expect.resize(static_cast<size_t>(n));
    const float* a = s->a->data<float>();
    const float* b = s->b->data<float>();
    for (int64_t i = 0; i < n; ++i) s->expect[i] = is_relu ? std::max(0.0f, a[i]) : a[i] + b[i];
  };
  c.run = [=] {
    ember::Backend& cpu = ember::backend(ember::DeviceType::CPU);
    if (is_relu) cpu.unary(ember::UnaryOp::Relu, s->out, s->a);
    else cpu.binary(ember::BinaryOp::Add, s->out, s->a, s->b);
  };
  c.check = [=] { return compare(s->out->data<float>(), s->expect, {1e-6}); };
  return c;
}

Case make_sum_case(int64_t rows, int64_t cols, bool over_rows) {
  struct State {
    ember::Tensor in, out;
    std::vector<double> expect, tol;
  };
  auto s = std::make_shared<State>();
  Case c;
  c.name = over_rows ? "sum dim0 f32 " + std::to_string(rows) + "x" + std::to_string(cols)
                     : "sum all f32 " + std::to_string(rows * cols);
  c.unit = Unit::Bytes;
  c.work = 4.0 * static_cast<double>(rows * cols);
  c.setup = [=] {
    s->in = random_tensor({rows, cols}, 13);
    s->out = ember::make_empty({1, over_rows ? cols : 1}, ember::DType::Float32, ember::Device{});
  };
  c.reference = [=] {
    const float* x = s->in->data<float>();
    s->expect.assign(static_cast<size_t>(over_rows ? cols : 1), 0.0);
    std::vector<double> magnitude(s->expect.size(), 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < cols; ++j) {
        s->expect[over_rows ? j : 0] += x[r * cols + j];
        magnitude[over_rows ? j : 0] += std::fabs(x[r * cols + j]);
      }
    // The worst-case bound of float accumulation, terms x eps x magnitude:
    // loose for rounding, but any wrong or missed element breaks it.
    const double terms = static_cast<double>(over_rows ? rows : rows * cols);
    s->tol.clear();
    for (double m : magnitude) s->tol.push_back(6e-8 * terms * m);
  };
  c.run = [=] { ember::backend(ember::DeviceType::CPU).reduce(ember::ReduceOp::Sum, s->out, s->in); };
  c.check = [=] { return compare(s->out->data<float>(), s->expect, s->tol); };
  return c;
}

// ---------------------------------------------------------------------------
// fma peak: the FMA throughput that bounds every float32 GEMM, measured
// rather than assumed (cores x clock x 32 FLOP presumes two 256-bit FMA
// pipes, which not every AVX2 core has). Twelve independent chains of
// a = a * b + c per thread hide the FMA latency; the check replays one lane
// with std::fma, which rounds exactly as the vector instruction does.
#if defined(__x86_64__)
constexpr int kFmaChains = 12;

__attribute__((target("avx2,fma"))) float fma_chains(int64_t iters, float first) {
  __m256 a[kFmaChains];
  for (int i = 0; i < kFmaChains; ++i) a[i] = _mm256_set1_ps(first + i);
  const __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-3f);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kFmaChains; ++i) a[i] = _mm256_fmadd_ps(a[i], b, c);
  }
  float lane[8], sum = 0.f;
  for (int i = 0; i < kFmaChains; ++i) {
    _mm256_storeu_ps(lane, a[i]);
    sum += lane[i % 8];
  }
  return sum;
}

Case make_fma_peak_case(bool all_threads) {
  const int64_t iters = 20 * 1000 * 1000;
  const int threads = all_threads ? omp_get_max_threads() : 1;
  auto results = std::make_shared<std::vector<float>>(threads);
  auto expect = std::make_shared<float>(0.f);
  Case c;
  c.name = all_threads ? "fma peak, all threads" : "fma peak, 1 thread";
  c.setup = [] {};
  c.reference = [=] {
    float sum = 0.f;
    for (int i = 0; i < kFmaChains; ++i) {
      float a = 1.f + i;
      for (int64_t it = 0; it < iters; ++it) a = std::fma(a, 0.999999f, 1e-3f);
      sum += a;
    }
    *expect = sum;
  };
  c.run = [=] {
#pragma omp parallel num_threads(threads)
    (*results)[omp_get_thread_num()] = fma_chains(iters, 1.f);
  };
  c.check = [=]() -> std::string {
    for (float r : *results)
      if (r != *expect) return "FMA chains gave " + std::to_string(r) + ", expected " + std::to_string(*expect);
    return "";
  };
  c.work = 2.0 * 8 * kFmaChains * iters * threads;
  return c;
}
#endif

// ---------------------------------------------------------------------------
// The case table. Append new kernels here.

std::vector<Case> all_cases() {
  std::vector<Case> cases;
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    cases.push_back(make_fma_peak_case(false));
    cases.push_back(make_fma_peak_case(true));
  }
#endif
  for (int64_t n : {256, 1024, 2048}) cases.push_back(make_gemm_case<float>("f32", n, n, n));
  cases.push_back(make_gemm_case<float>("f32", 64, 64, 64));
  // Tiny-MLP shapes: batch 2, 20 -> 256, as plain and as x @ W.T.
  cases.push_back(make_gemm_case<float>("f32", 2, 256, 20));
  cases.push_back(make_gemm_case<float>("f32", 2, 256, 20, /*b_transposed=*/true));
  cases.push_back(make_gemm_case<float>("f32", 256, 256, 784, /*b_transposed=*/true));
  cases.push_back(make_gemm_case<double>("f64", 512, 512, 512));
  const int64_t n = 4 * 1024 * 1024;
  cases.push_back(make_elementwise_case("add", n, false));
  cases.push_back(make_elementwise_case("relu", n, true));
  cases.push_back(make_sum_case(1, n, false));
  cases.push_back(make_sum_case(2000, 2000, true));
  return cases;
}

// ---------------------------------------------------------------------------
// Timing.

struct Timing {
  double median_s, best_s;
  int reps;
};

Timing time_case(const Case& c) {
  // Warm-up: touch caches, page in buffers, wake the thread pool.
  const auto w0 = Clock::now();
  int warm = 0;
  do {
    c.run();
    ++warm;
  } while (warm < 3 || (seconds_since(w0) < 0.1 && warm < 1000));
  const double per_run = seconds_since(w0) / warm;
  // Aim for ~0.5 s of measurement; at least 5 samples for a stable median.
  const int reps = std::clamp(static_cast<int>(0.5 / std::max(per_run, 1e-9)), 5, 10000);
  std::vector<double> t(reps);
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    c.run();
    t[r] = seconds_since(t0);
  }
  std::sort(t.begin(), t.end());
  return {t[reps / 2], t[0], reps};
}

bool matches_filter(const std::string& name, const std::vector<std::string>& filters) {
  if (filters.empty()) return true;
  return std::any_of(filters.begin(), filters.end(),
                     [&](const std::string& f) { return name.find(f) != std::string::npos; });
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> filters;
  bool list_only = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--list") == 0) {
      list_only = true;
    } else {
      filters.emplace_back(argv[i]);
    }
  }
  std::vector<Case> cases = all_cases();
  if (list_only) {
    for (const Case& c : cases) std::printf("%s\n", c.name.c_str());
    return 0;
  }

  std::printf("gemm micro-kernel: %s\n", ember::cpu::gemm_kernel_name());
  std::printf("%-32s %12s %12s %10s %6s\n", "case", "median", "best", "rate", "reps");
  int failures = 0;
  for (const Case& c : cases) {
    if (!matches_filter(c.name, filters)) continue;
    c.setup();
    c.reference();
    c.run();
    const std::string err = c.check();
    if (!err.empty()) {
      // Don't time a wrong kernel; report and keep going so one bug doesn't
      // hide the rest of the table.
      std::printf("%-32s FAILED validation: %s\n", c.name.c_str(), err.c_str());
      ++failures;
      continue;
    }
    const Timing t = time_case(c);
    const double rate = c.work / t.median_s / 1e9;
    std::printf("%-32s %9.3f ms %9.3f ms %6.1f %s %6d\n", c.name.c_str(), t.median_s * 1e3,
                t.best_s * 1e3, rate, c.unit == Unit::Flops ? "GFLOP/s" : "GB/s   ", t.reps);
    std::fflush(stdout);
  }
  return failures == 0 ? 0 : 1;
}
