// How float32 matrix products may round their inputs: PyTorch's
// torch.set_float32_matmul_precision, one setting for the process.
//   Highest  float32 throughout (the default);
//   High     CUDA float32 matmul may run on the tensor cores in TF32
//            (inputs rounded to a 10-bit mantissa, products accumulated in
//            float32), about 8x the float32 FMA rate from sm_80 on;
//   Medium   the same here (PyTorch allows bfloat16 internally too; ember
//            does not go below TF32).
// CPU kernels are float32 at every setting.
#pragma once

namespace ember {

enum class Float32MatmulPrecision { Highest, High, Medium };

void set_float32_matmul_precision(Float32MatmulPrecision p);
Float32MatmulPrecision float32_matmul_precision();

// Whether float32 matmul may use TF32 (High or Medium).
inline bool float32_matmul_allows_tf32() { return float32_matmul_precision() != Float32MatmulPrecision::Highest; }

}  // namespace ember
