// Run-time CPU feature checks for the kernels compiled for more than the
// baseline x86-64 (the GEMM micro-kernel, the sum block loop). The core is
// built for baseline x86-64 so that one binary runs everywhere.
#pragma once

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

}  // namespace ember::cpu
