// Run-time CPU feature checks for the kernels compiled for more than the
// baseline x86-64 (the GEMM micro-kernel, the sum block loop). The core is
// built for baseline x86-64 so that one binary runs everywhere.
#pragma once
#include <cstdlib>
#include <cstring>

namespace ember::cpu {

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
// __builtin_cpu_init first: these may run before the runtime's own
// initialisation when called from a static initializer.
inline bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}
inline bool cpu_has_avx2_fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
inline bool cpu_has_avx2() { return false; }
inline bool cpu_has_avx2_fma() { return false; }
#endif

// EMBER_CPU_KERNELS=baseline: every kernel above the baseline stays unused
// (for testing the fallback on an AVX2 machine). Every dispatch asks
// through cpu_use_avx2*, never cpu_has_* alone.
inline bool cpu_baseline_forced() {
  const char* env = std::getenv("EMBER_CPU_KERNELS");
  return env && std::strcmp(env, "baseline") == 0;
}
// Whether the AVX2+FMA kernels run (GEMM, vectorized exp/sigmoid).
inline bool cpu_use_avx2() { return !cpu_baseline_forced() && cpu_has_avx2_fma(); }
// Whether the AVX2-only kernels run (the sum blocks).
inline bool cpu_use_avx2_only() { return !cpu_baseline_forced() && cpu_has_avx2(); }

}  // namespace ember::cpu
