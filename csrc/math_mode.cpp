// The process-wide matmul precision (math_mode.h). Atomic: read by every
// CUDA float32 matmul launch, possibly on other threads than the setter's.
#include "math_mode.h"

#include <atomic>

namespace ember {

namespace {
std::atomic<Float32MatmulPrecision> g_float32_matmul_precision{Float32MatmulPrecision::Highest};
}

void set_float32_matmul_precision(Float32MatmulPrecision p) {
  g_float32_matmul_precision.store(p, std::memory_order_relaxed);
}

Float32MatmulPrecision float32_matmul_precision() {
  return g_float32_matmul_precision.load(std::memory_order_relaxed);
}

}  // namespace ember
