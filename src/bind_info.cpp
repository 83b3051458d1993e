// ember._C._build_info(): facts about this build and this CPU for
// `python -m ember.info`. Conversion only, over existing core queries.
#include <pybind11/pybind11.h>

#include "csrc/cpu/cpu_features.h"
#include "cuda/cuda_api.h"

#ifndef EMBER_CUDA_ARCHITECTURES
#define EMBER_CUDA_ARCHITECTURES ""
#endif

namespace py = pybind11;

void bind_info(py::module_& m) {
  m.def("_build_info", [] {
    py::dict info;
    info["cuda_built"] = ember::cuda_is_built();
    info["cuda_architectures"] = ember::cuda_is_built() ? std::string(EMBER_CUDA_ARCHITECTURES) : std::string();
    info["cpu_avx2"] = ember::cpu::cpu_has_avx2();
    info["cpu_avx2_fma"] = ember::cpu::cpu_has_avx2_fma();
    // The kernel set the run-time checks select (the GEMM micro-kernel and
    // the sum's block loop need AVX2 and FMA; otherwise baseline x86-64).
    // The set in use: what the processor has, unless EMBER_CPU_KERNELS=baseline.
    info["cpu_kernels"] = ember::cpu::cpu_use_avx2() ? "avx2+fma" : "baseline";
#ifdef __VERSION__
    info["compiler"] = __VERSION__;
#endif
#ifdef _OPENMP
    info["openmp"] = _OPENMP;
#else
    info["openmp"] = py::none();
#endif
    return info;
  });
}
