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

// Whether the AVX2+FMA kernels run: the processor has them and the
// environment does not ask for the baseline ones (EMBER_CPU_KERNELS=baseline,
// for testing the fallback on an AVX2 machine).
inline bool cpu_use_avx2() {
  const char* env = std::getenv("EMBER_CPU_KERNELS");
  if (env && std::strcmp(env, "baseline") == 0) return false;
  return cpu_has_avx2_fma();
}

}  // namespace ember::cpu
