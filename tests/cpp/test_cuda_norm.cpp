// test_cuda_norm.cpp — the CUDA batch-norm primitives (statistics, the
// normalized output and the backward's reductions) against the CPU backend,
// including a large mean that a one-pass variance would lose.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "csrc/backend.h"
#include "csrc/error.h"
#include "csrc/philox.h"
#include "csrc/tensor.h"
#include "cuda/cuda_api.h"
#include "tests/cpp/cuda_test_util.h"

using namespace ember;
using namespace ember::cuda_test;

TEST(CudaKernels, BatchNormPrimitives) {
  REQUIRE_GPU();
  std::mt19937 rng(17);
  const Shape shapes[] = {{7, 3, 1}, {300, 5, 1}, {8, 3, 25}, {64, 4, 784}, {3, 2, 20000}, {1, 37, 768}, {2, 1, 5}};
  for (DType d : {DType::Float32, DType::Float64}) {
    const double tol = d == DType::Float32 ? 5e-5 : 1e-11;
    for (const Shape& sh : shapes) {
      const std::string what = shape_str(sh) + " " + dtype_name(d);
      const int64_t c = sh[1];
      Pair x = random_pair(sh, d, rng);
      Pair mean = empty_pair({c}, d), var = empty_pair({c}, d);
      backend(kCpu).batch_norm_stats(mean.cpu, var.cpu, x.cpu);
      backend(kGpu).batch_norm_stats(mean.gpu, var.gpu, x.gpu);
      expect_close(mean, tol, "stats mean " + what, tol);
      expect_close(var, tol, "stats var " + what, tol);
      Pair mean2 = empty_pair({c}, d), var2 = empty_pair({c}, d);
      backend(kGpu).batch_norm_stats(mean2.gpu, var2.gpu, x.gpu);
      Tensor v1 = to_host(var.gpu), v2 = to_host(var2.gpu);
      EXPECT_EQ(0, std::memcmp(v1->storage->data, v2->storage->data, v1->storage->nbytes)) << "repeatable " << what;

      Pair scale = random_pair({c}, d, rng), shift = random_pair({c}, d, rng);
      Pair out = empty_pair(sh, d);
      backend(kCpu).batch_norm_apply(out.cpu, x.cpu, scale.cpu, shift.cpu);
      backend(kGpu).batch_norm_apply(out.gpu, x.gpu, scale.gpu, shift.gpu);
      expect_close(out, tol, "apply " + what, tol);

      Pair dy = random_pair(sh, d, rng);
      Pair sdy = empty_pair({c}, d), sdx = empty_pair({c}, d);
      backend(kCpu).batch_norm_backward_reduce(sdy.cpu, sdx.cpu, dy.cpu, x.cpu, mean.cpu);
      backend(kGpu).batch_norm_backward_reduce(sdy.gpu, sdx.gpu, dy.gpu, x.gpu, mean.gpu);
      // Sums of thousands of terms of either sign: absolute tolerance scaled by the count.
      const double sum_tol = tol * std::sqrt(double(sh[0] * sh[2])) * 4;
      expect_close(sdy, tol, "backward sum_dy " + what, sum_tol);
      expect_close(sdx, tol, "backward sum_dy_xmu " + what, sum_tol);

      Pair ka = random_pair({c}, d, rng), kb = random_pair({c}, d, rng), kd = random_pair({c}, d, rng);
      Pair gi = empty_pair(sh, d);
      backend(kCpu).batch_norm_backward_apply(gi.cpu, dy.cpu, x.cpu, mean.cpu, ka.cpu, kb.cpu, kd.cpu);
      backend(kGpu).batch_norm_backward_apply(gi.gpu, dy.gpu, x.gpu, mean.gpu, ka.gpu, kb.gpu, kd.gpu);
      expect_close(gi, tol, "backward apply " + what, tol);
    }
  }
}

// The statistics of a channel whose mean is far larger than its spread:
// the Welford/Chan path keeps the variance (a naive E[x^2] - E[x]^2 would not).
TEST(CudaKernels, BatchNormStatsLargeMean) {
  REQUIRE_GPU();
  std::mt19937 rng(18);
  Pair x = random_pair({512, 2, 64}, DType::Float32, rng);
  for (int64_t i = 0; i < x.cpu->numel(); ++i) set(x.cpu, i, 1e4 + get(x.cpu, i));
  upload(x);
  Pair mean = empty_pair({2}, DType::Float32), var = empty_pair({2}, DType::Float32);
  backend(kCpu).batch_norm_stats(mean.cpu, var.cpu, x.cpu);
  backend(kGpu).batch_norm_stats(mean.gpu, var.gpu, x.gpu);
  expect_close(mean, 1e-6, "large-mean mean");
  expect_close(var, 1e-4, "large-mean var", 1e-5);
  EXPECT_GT(get(to_host(var.gpu), 0), 0.5);
}
