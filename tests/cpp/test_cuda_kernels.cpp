// test_cuda_kernels.cpp — every elementwise, reduction, matmul, indexing,
// random and softmax primitive of the CUDA backend against the CPU backend
// on the same random, never-all-zero inputs, with odd sizes, transposed /
// sliced / broadcast (stride-0) layouts (GTEST_SKIP without a visible GPU).
// Host-side checks of the same arithmetic: test_cuda_host_math.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "csrc/backend.h"
#include "csrc/error.h"
#include "csrc/math_mode.h"
#include "csrc/philox.h"
#include "csrc/tensor.h"
#include "cuda/cuda_api.h"
#include "tests/cpp/cuda_test_util.h"

using namespace ember;
using namespace ember::cuda_test;

TEST(CudaKernels, RoundTripAndAllocatorStats) {
  REQUIRE_GPU();
  std::mt19937 rng(1);
  size_t before = cuda_memory_allocated(0);
  {
    Pair p = random_pair({1001}, DType::Float32, rng);
    EXPECT_GE(cuda_memory_allocated(0), before + 1001 * 4);
    expect_close(p, 0, "round trip");
  }
  EXPECT_EQ(cuda_memory_allocated(0), before);
  EXPECT_GE(cuda_max_memory_allocated(0), before + 1001 * 4);
  cuda_empty_cache();
  cuda_synchronize(0);
}

TEST(CudaKernels, OutOfMemoryIsAnError) {
  REQUIRE_GPU();
  try {
    backend(kGpu).allocate(size_t(1) << 50, 0);  // a petabyte
    FAIL() << "expected OutOfMemoryError";
  } catch (const OutOfMemoryError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("out of memory"), std::string::npos) << m;
    EXPECT_NE(m.find("free"), std::string::npos) << m;
  }
  std::mt19937 rng(2);
  Pair p = random_pair({7}, DType::Float32, rng);  // still usable afterwards
  expect_close(p, 0, "after OOM");
}

TEST(CudaKernels, CopyAllDtypePairsAndLayouts) {
  REQUIRE_GPU();
  std::mt19937 rng(3);
  for (DType s : kAllTypes) {
    Pair src = transposed({37, 45}, s, rng);
    for (DType d : kAllTypes) {
      Pair dst = empty_pair({37, 45}, d);
      backend(kCpu).copy(dst.cpu, src.cpu);
      backend(kGpu).copy(dst.gpu, src.gpu);
      expect_close(dst, tol_for(d), std::string("copy ") + dtype_name(s) + "->" + dtype_name(d));
    }
  }
  // same dtype, contiguous (memcpy path) and into a strided destination
  Pair a = random_pair({1000}, DType::Float32, rng);
  Pair big = random_pair({2000}, DType::Float32, rng);
  Pair every_other = view(big, {1000}, {2}, 1);
  backend(kCpu).copy(every_other.cpu, a.cpu);
  backend(kGpu).copy(every_other.gpu, a.gpu);
  expect_close(big, 0, "strided destination");
}

TEST(CudaKernels, Fill) {
  REQUIRE_GPU();
  for (DType d : kAllTypes) {
    Pair p = empty_pair({3, 129}, d);
    Pair v = view(p, {3, 64}, {129, 2}, 1);
    backend(kCpu).fill(p.cpu, Scalar(0.0));
    backend(kGpu).fill(p.gpu, Scalar(0.0));
    backend(kCpu).fill(v.cpu, Scalar(int64_t(3)));
    backend(kGpu).fill(v.gpu, Scalar(int64_t(3)));
    expect_close(p, 0, std::string("fill ") + dtype_name(d));
  }
}

TEST(CudaKernels, UnaryAllOpsFloat) {
  REQUIRE_GPU();
  std::mt19937 rng(4);
  for (int o = 0; o < int(UnaryOp::kCount); ++o) {
    UnaryOp op = UnaryOp(o);
    if (op == UnaryOp::BitwiseNot) continue;
    const bool positive = op == UnaryOp::Log || op == UnaryOp::Sqrt || op == UnaryOp::Rsqrt ||
                          op == UnaryOp::Log2 || op == UnaryOp::Log10 || op == UnaryOp::Log1p;
    for (DType d : kFloatTypes) {
      for (int layout = 0; layout < 2; ++layout) {
        Pair in = layout ? transposed({33, 67}, d, rng, positive) : random_pair({33, 67}, d, rng, positive);
        Pair out = empty_pair({33, 67}, op == UnaryOp::LogicalNot ? DType::Bool : d);
        cpu_ref({out.cpu, in.cpu}, 1, [&](const auto& t) { backend(kCpu).unary(op, t[0], t[1]); });
        backend(kGpu).unary(op, out.gpu, in.gpu);
        double tol = d == DType::Float32 ? 1e-5 : tol_for(d) * 2;
        expect_close(out, tol, std::string("unary op ") + std::to_string(o) + " " + dtype_name(d), tol);
      }
    }
  }
}

TEST(CudaKernels, UnaryIntegerOps) {
  REQUIRE_GPU();
  std::mt19937 rng(5);
  const UnaryOp ops[] = {UnaryOp::Neg, UnaryOp::Abs, UnaryOp::Sign, UnaryOp::Relu, UnaryOp::Square,
                         UnaryOp::BitwiseNot};
  for (DType d : {DType::Int8, DType::Int16, DType::Int32, DType::Int64}) {
    for (UnaryOp op : ops) {
      Pair in = random_pair({5, 31}, d, rng);
      Pair out = empty_pair({5, 31}, d);
      backend(kCpu).unary(op, out.cpu, in.cpu);
      backend(kGpu).unary(op, out.gpu, in.gpu);
      expect_close(out, 0, std::string("int unary ") + dtype_name(d));
    }
  }
  Pair b = random_pair({77}, DType::Bool, rng);
  Pair nb = empty_pair({77}, DType::Bool);
  backend(kCpu).unary(UnaryOp::LogicalNot, nb.cpu, b.cpu);
  backend(kGpu).unary(UnaryOp::LogicalNot, nb.gpu, b.gpu);
  expect_close(nb, 0, "logical_not bool");
}

TEST(CudaKernels, BinaryAllOpsBroadcastAndStrides) {
  REQUIRE_GPU();
  std::mt19937 rng(6);
  for (int o = 0; o < int(BinaryOp::kCount); ++o) {
    BinaryOp op = BinaryOp(o);
    const bool bitwise = op == BinaryOp::BitAnd || op == BinaryOp::BitOr || op == BinaryOp::BitXor;
    for (DType d : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16, DType::Int32, DType::Int64}) {
      if (bitwise && is_floating(d)) continue;
      if (!is_floating(d) && (op == BinaryOp::Pow || op == BinaryOp::Atan2 || op == BinaryOp::Div)) continue;
      const bool pos = op == BinaryOp::Pow;
      // Integer division by zero traps on the CPU: keep divisors nonzero.
      const bool pos_b = pos || (!is_floating(d) && (op == BinaryOp::FloorDiv || op == BinaryOp::Remainder));
      const DType od = is_comparison(op) ? DType::Bool : d;
      // (1) contiguous, odd size (vector body + scalar tail)
      Pair a = random_pair({1027}, d, rng, pos), b = random_pair({1027}, d, rng, pos_b);
      Pair out = empty_pair({1027}, od);
      cpu_ref({out.cpu, a.cpu, b.cpu}, 1, [&](const auto& t) { backend(kCpu).binary(op, t[0], t[1], t[2]); });
      backend(kGpu).binary(op, out.gpu, a.gpu, b.gpu);
      double tol = is_floating(d) ? tol_for(d) * 4 : 0;
      expect_close(out, tol, std::string("binary ") + std::to_string(o) + " " + dtype_name(d), tol);
      // (2) transposed a, row-broadcast b (stride 0 on dim 0)
      Pair ta = transposed({19, 23}, d, rng, pos);
      Pair row = random_pair({23}, d, rng, pos_b);
      Pair brow = view(row, {19, 23}, {0, 1}, 0);
      Pair out2 = empty_pair({19, 23}, od);
      cpu_ref({out2.cpu, ta.cpu, brow.cpu}, 1, [&](const auto& t) { backend(kCpu).binary(op, t[0], t[1], t[2]); });
      backend(kGpu).binary(op, out2.gpu, ta.gpu, brow.gpu);
      expect_close(out2, tol, std::string("binary bcast ") + std::to_string(o) + " " + dtype_name(d), tol);
    }
  }
}

TEST(CudaKernels, ClampAndWhere) {
  REQUIRE_GPU();
  std::mt19937 rng(7);
  for (DType d : {DType::Float32, DType::Float16, DType::Int64}) {
    Pair in = transposed({17, 29}, d, rng);
    for (int mode = 0; mode < 3; ++mode) {
      Pair out = empty_pair({17, 29}, d);
      cpu_ref({out.cpu, in.cpu}, 1,
              [&](const auto& t) { backend(kCpu).clamp(t[0], t[1], mode != 1, -1.0, mode != 2, 1.0); });
      backend(kGpu).clamp(out.gpu, in.gpu, mode != 1, -1.0, mode != 2, 1.0);
      expect_close(out, 0, std::string("clamp ") + dtype_name(d));
    }
    Pair cond = random_pair({17, 29}, DType::Bool, rng);
    Pair a = random_pair({17, 29}, d, rng);
    Pair scalar = random_pair({1}, d, rng);
    Pair b = view(scalar, {17, 29}, {0, 0}, 0);
    Pair out = empty_pair({17, 29}, d);
    cpu_ref({out.cpu, cond.cpu, a.cpu, b.cpu}, 1,
            [&](const auto& t) { backend(kCpu).where(t[0], t[1], t[2], t[3]); });
    backend(kGpu).where(out.gpu, cond.gpu, a.gpu, b.gpu);
    expect_close(out, 0, std::string("where ") + dtype_name(d));
  }
}

TEST(CudaKernels, ReduceDimSetsOpsAndLayouts) {
  REQUIRE_GPU();
  std::mt19937 rng(8);
  const std::vector<std::vector<int>> dim_sets = {{0}, {1}, {2}, {0, 2}, {1, 2}, {0, 1, 2}};
  for (int o = 0; o < int(ReduceOp::kCount); ++o) {
    ReduceOp op = ReduceOp(o);
    for (DType d : {DType::Float32, DType::Float64, DType::BFloat16, DType::Int64, DType::Bool}) {
      const bool logical = op == ReduceOp::Any || op == ReduceOp::All;
      // Bool reaches the CPU's sum/prod/max/min only through an integer dtype.
      if (d == DType::Bool && !logical) continue;
      for (const auto& dims : dim_sets) {
        for (int layout = 0; layout < 2; ++layout) {
          Shape shape{7, 5, 131};
          Pair in = layout ? transposed(shape, d, rng) : random_pair(shape, d, rng);
          if (op == ReduceOp::Prod && is_floating(d)) {  // keep products finite
            Pair small = random_pair(shape, d, rng, true);
            in = small;
          }
          Shape oshape = shape;
          for (int dd : dims) oshape[dd] = 1;
          DType od = logical ? DType::Bool : d;
          Pair out = empty_pair(oshape, od);
          // The CPU's any/all read Bool input (the op layer converts first).
          Tensor in_ref = logical && d != DType::Bool ? cpu_as(in.cpu, DType::Bool) : in.cpu;
          cpu_ref({out.cpu, in_ref}, 1, [&](const auto& t) { backend(kCpu).reduce(op, t[0], t[1]); });
          backend(kGpu).reduce(op, out.gpu, in.gpu);
          double tol = is_floating(d) ? (op == ReduceOp::Prod ? 1e-3 : tol_for(d) * 50) : 0;
          expect_close(out, tol, std::string("reduce op ") + std::to_string(o) + " " + dtype_name(d) + " dims " +
                                     std::to_string(dims.size()) + " layout " + std::to_string(layout),
                       tol);
        }
      }
    }
  }
}

TEST(CudaKernels, ReduceLargeWholeAndColumns) {
  REQUIRE_GPU();
  std::mt19937 rng(9);
  for (Shape shape : {Shape{3000017}, Shape{100003, 3}, Shape{3, 100003}}) {
    Pair in = random_pair(shape, DType::Float32, rng);
    for (size_t dim = 0; dim <= shape.size(); ++dim) {  // each dim, then all
      Shape oshape = shape;
      if (dim == shape.size()) std::fill(oshape.begin(), oshape.end(), 1);
      else oshape[dim] = 1;
      for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min}) {
        Pair out = empty_pair(oshape, DType::Float32);
        backend(kCpu).reduce(op, out.cpu, in.cpu);
        backend(kGpu).reduce(op, out.gpu, in.gpu);
        expect_close(out, 1e-3, "large reduce", 1e-2);
      }
    }
  }
}

TEST(CudaKernels, ArgReduceAndCumsum) {
  REQUIRE_GPU();
  std::mt19937 rng(10);
  for (DType d : {DType::Float32, DType::Float16, DType::Int32}) {
    for (int64_t n : {1, 10, 33, 1500}) {
      Pair in = random_pair({13, n}, d, rng);
      if (is_floating(d)) {  // ties and a NaN
        set(in.cpu, 2 * n, std::nan(""));
        upload(in);
      }
      for (bool is_max : {true, false}) {
        Pair v = empty_pair({13, 1}, d), idx = empty_pair({13, 1}, DType::Int64);
        cpu_ref({v.cpu, idx.cpu, in.cpu}, 2, [&](const auto& t) { backend(kCpu).arg_reduce(is_max, t[0], t[1], t[2]); });
        backend(kGpu).arg_reduce(is_max, v.gpu, idx.gpu, in.gpu);
        expect_close(v, 0, "arg_reduce values");
        expect_close(idx, 0, "arg_reduce indices");
      }
    }
    for (int64_t dim = 0; dim < 3; ++dim) {
      Pair in = transposed({4, 37, 9}, d, rng);
      Pair out = empty_pair({4, 37, 9}, d);
      cpu_ref({out.cpu, in.cpu}, 1, [&](const auto& t) { backend(kCpu).cumsum(t[0], t[1], dim); });
      backend(kGpu).cumsum(out.gpu, in.gpu, dim);
      expect_close(out, is_floating(d) ? 1e-2 : 0, "cumsum", 1e-2);
    }
  }
}

TEST(CudaKernels, MatmulShapesLayoutsDtypes) {
  REQUIRE_GPU();
  std::mt19937 rng(11);
  struct Case {
    int64_t B, M, K, N;
  };
  // The last two are multiples of 8 (16-byte rows for 16-bit types, float4
  // rows for float32) with several tiles and a K tail: the vector-load and
  // cp.async pipeline paths, in every layout.
  // The last two have few output tiles and a deep K: float32 splits K
  // (8 slices, and 2 with a K that is no multiple of 16).
  const Case cases[] = {{1, 1, 1, 1},     {1, 17, 33, 65},    {3, 130, 257, 129}, {2, 64, 64, 64},
                        {1, 300, 7, 5},   {1, 5, 500, 3},     {1, 136, 264, 200}, {2, 256, 104, 392},
                        {1, 256, 4096, 256}, {2, 200, 1100, 130}};
  for (DType d : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16, DType::Int64}) {
    for (const Case& c : cases) {
      for (int layout = 0; layout < 3; ++layout) {
        for (bool acc : {false, true}) {
          // layout 0: contiguous; 1: b transposed (as in x @ w.T); 2: a transposed, a's batch broadcast
          Pair a = layout == 2 ? view(transposed({1, c.M, c.K}, d, rng), {c.B, c.M, c.K}, {0, 1, c.M}, 0)
                               : random_pair({c.B, c.M, c.K}, d, rng);
          Pair b = layout == 1 ? transposed({c.B, c.K, c.N}, d, rng) : random_pair({c.B, c.K, c.N}, d, rng);
          Pair out = random_pair({c.B, c.M, c.N}, d, rng);
          cpu_ref({out.cpu, a.cpu, b.cpu}, 1, [&](const auto& t) { backend(kCpu).matmul(t[0], t[1], t[2], acc); });
          backend(kGpu).matmul(out.gpu, a.gpu, b.gpu, acc);
          double tol = d == DType::Float32 ? 1e-4 : d == DType::Float64 ? 1e-10 : is_floating(d) ? 3e-2 : 0;
          double atol = tol * std::sqrt(double(c.K)) * 2;
          expect_close(out, tol, std::string("matmul ") + dtype_name(d) + " M" + std::to_string(c.M) + " K" +
                                     std::to_string(c.K) + " N" + std::to_string(c.N) + " layout " +
                                     std::to_string(layout) + (acc ? " acc" : ""),
                       atol);
        }
      }
    }
  }
}

TEST(CudaKernels, MatmulFloat32InTf32) {
  // set_float32_matmul_precision("high"): the TF32 tensor-core kernel
  // (matmul_tf32.cu) on sm_80 and later, against the CPU's float32 product,
  // within TF32's input rounding (2^-11 relative per input); every layout,
  // odd sizes, batches and accumulation.
  REQUIRE_GPU();
  std::mt19937 rng(12);
  set_float32_matmul_precision(Float32MatmulPrecision::High);
  struct Case {
    int64_t B, M, K, N;
  };
  const Case cases[] = {{1, 1, 1, 1}, {1, 17, 33, 65}, {3, 130, 257, 129}, {2, 256, 104, 392}};
  for (const Case& c : cases)
    for (int layout = 0; layout < 3; ++layout)
      for (bool acc : {false, true}) {
        Pair a = layout == 2 ? view(transposed({1, c.M, c.K}, DType::Float32, rng), {c.B, c.M, c.K}, {0, 1, c.M}, 0)
                             : random_pair({c.B, c.M, c.K}, DType::Float32, rng);
        Pair b = layout == 1 ? transposed({c.B, c.K, c.N}, DType::Float32, rng)
                             : random_pair({c.B, c.K, c.N}, DType::Float32, rng);
        Pair out = random_pair({c.B, c.M, c.N}, DType::Float32, rng);
        cpu_ref({out.cpu, a.cpu, b.cpu}, 1, [&](const auto& t) { backend(kCpu).matmul(t[0], t[1], t[2], acc); });
        backend(kGpu).matmul(out.gpu, a.gpu, b.gpu, acc);
        expect_close(out, 2e-3, "tf32 matmul M" + std::to_string(c.M) + " K" + std::to_string(c.K) + " layout " +
                                    std::to_string(layout) + (acc ? " acc" : ""),
                     2e-3 * std::sqrt(double(c.K)) * 2);
      }
  set_float32_matmul_precision(Float32MatmulPrecision::Highest);
}

TEST(CudaKernels, MatmulHopperWgmma) {
  // The wgmma + TMA kernel (matmul_hopper.cu), opted in, on operands it
  // takes (both K-contiguous: b as a transposed view, K a multiple of 8):
  // every tile configuration, tails in M, N and K (TMA's zero fill), batches,
  // a broadcast operand and accumulation, against the CPU. On a GPU other
  // than compute 9.0 the dispatch declines and the sm_80 kernels run.
  REQUIRE_GPU();
  std::mt19937 rng(13);
  setenv("EMBER_CUDA_WGMMA", "1", 1);
  struct Case {
    int64_t B, M, K, N;
  };
  const Case cases[] = {{1, 128, 64, 128}, {1, 300, 136, 200}, {2, 256, 512, 384}, {3, 77, 40, 520}};
  for (const char* tile : {"128x128s4", "128x128s6", "128x256s3", "128x256s4"}) {
    setenv("EMBER_CUDA_WGMMA_TILE", tile, 1);
    for (DType d : {DType::BFloat16, DType::Float16})
      for (const Case& c : cases)
        for (int variant = 0; variant < 3; ++variant) {
          // 0: plain; 1: accumulate; 2: a broadcast over the batch
          Pair a = variant == 2 ? view(random_pair({1, c.M, c.K}, d, rng), {c.B, c.M, c.K}, {0, c.K, 1}, 0)
                                : random_pair({c.B, c.M, c.K}, d, rng);
          Pair b = transposed({c.B, c.K, c.N}, d, rng);
          Pair out = random_pair({c.B, c.M, c.N}, d, rng);
          const bool acc = variant == 1;
          cpu_ref({out.cpu, a.cpu, b.cpu}, 1, [&](const auto& t) { backend(kCpu).matmul(t[0], t[1], t[2], acc); });
          backend(kGpu).matmul(out.gpu, a.gpu, b.gpu, acc);
          expect_close(out, 3e-2,
                       std::string("wgmma ") + tile + " " + dtype_name(d) + " M" + std::to_string(c.M) + " K" +
                           std::to_string(c.K) + " N" + std::to_string(c.N) + " variant " + std::to_string(variant),
                       3e-2 * std::sqrt(double(c.K)) * 2);
        }
  }
  unsetenv("EMBER_CUDA_WGMMA");
  unsetenv("EMBER_CUDA_WGMMA_TILE");
}

TEST(CudaKernels, MatmulBeyondGridLimits) {
  REQUIRE_GPU();
  std::mt19937 rng(14);
  // More than 65535 row tiles (float64 uses 16-row tiles) and more than
  // 65535 batches: gridDim.y and gridDim.z cap there, so these launch in chunks.
  struct Case {
    int64_t B, M, K, N;
    DType d;
  };
  const Case cases[] = {{1, 65535 * 16 + 21, 3, 5, DType::Float64}, {65537, 3, 4, 2, DType::Float32}};
  for (const Case& c : cases) {
    Pair a = random_pair({c.B, c.M, c.K}, c.d, rng), b = random_pair({c.B, c.K, c.N}, c.d, rng);
    Pair out = random_pair({c.B, c.M, c.N}, c.d, rng);
    backend(kCpu).matmul(out.cpu, a.cpu, b.cpu, true);
    backend(kGpu).matmul(out.gpu, a.gpu, b.gpu, true);
    expect_close(out, 1e-5, std::string("matmul beyond grid limits ") + dtype_name(c.d));
  }
}

TEST(CudaKernels, TakePutNonzero) {
  REQUIRE_GPU();
  std::mt19937 rng(12);
  for (DType d : {DType::Float32, DType::Float16, DType::BFloat16, DType::Int64, DType::Int32, DType::Int8,
                  DType::Int16, DType::Bool, DType::Float64}) {
    Pair src = random_pair({50, 3}, d, rng);
    Pair offs = empty_pair({7, 11}, DType::Int64);
    for (int64_t i = 0; i < 77; ++i) set(offs.cpu, i, double(rng() % 150));
    upload(offs);
    Pair out = empty_pair({7, 11}, d);
    backend(kCpu).take(out.cpu, src.cpu, offs.cpu);
    backend(kGpu).take(out.gpu, src.gpu, offs.gpu);
    expect_close(out, 0, std::string("take ") + dtype_name(d));
    for (bool acc : {false, true}) {
      Pair dst = random_pair({50, 3}, d, rng);
      // accumulate with repeated offsets; overwrite with distinct ones
      Pair po = empty_pair({77}, DType::Int64);
      for (int64_t i = 0; i < 77; ++i) set(po.cpu, i, double(acc ? (i * 7) % 20 : (i * 37) % 150));
      upload(po);
      Pair vals = random_pair({77}, d, rng);
      cpu_ref({dst.cpu, po.cpu, vals.cpu}, 1, [&](const auto& t) { backend(kCpu).put(t[0], t[1], t[2], acc); });
      backend(kGpu).put(dst.gpu, po.gpu, vals.gpu, acc);
      expect_close(dst, d == DType::BFloat16 ? 5e-2 : tol_for(d) * 20, std::string("put ") + dtype_name(d),
                   d == DType::BFloat16 ? 0.1 : tol_for(d) * 20);
    }
  }
  for (Shape shape : {Shape{9, 17, 5}, Shape{10000}, Shape{}}) {
    Pair in = random_pair(shape, DType::Int32, rng);  // about 1 in 9 zeros
    Tensor nc = backend(kCpu).nonzero(in.cpu);
    Tensor ng = backend(kGpu).nonzero(in.gpu);
    expect_close({nc, ng}, 0, "nonzero");
  }
  Pair t = transposed({31, 45}, DType::Float32, rng);
  expect_close({backend(kCpu).nonzero(t.cpu), backend(kGpu).nonzero(t.gpu)}, 0, "nonzero transposed");
}

TEST(CudaKernels, TakeRows) {
  REQUIRE_GPU();
  std::mt19937 rng(13);
  // One dtype per element size (1, 2, 4, 8 bytes); rows 13 wide in a source
  // whose row stride is 20 and which starts 3 elements in.
  for (DType d : {DType::Int8, DType::BFloat16, DType::Float32, DType::Float64}) {
    Pair big = random_pair({40, 20}, d, rng);
    Pair src = view(big, {40, 13}, {20, 1}, 3);
    Pair rows = empty_pair({25}, DType::Int64);
    for (int64_t i = 0; i < 25; ++i) set(rows.cpu, i, double(rng() % 40));
    upload(rows);
    Pair out = empty_pair({25, 13}, d);
    backend(kCpu).take_rows(out.cpu, src.cpu, rows.cpu);
    backend(kGpu).take_rows(out.gpu, src.gpu, rows.gpu);
    expect_close(out, 0, std::string("take_rows ") + dtype_name(d));
  }
}

TEST(CudaKernels, PhiloxMatchesHostReference) {
  REQUIRE_GPU();
  for (DType d : kFloatTypes) {
    Pair big = empty_pair({3, 1001}, d);
    Pair v = view(big, {3, 333}, {1001, 3}, 2);  // strided: element order is logical order
    backend(kGpu).uniform(v.gpu, -1.0, 3.0, 1234, 77);
    // The CPU kernel fills densely (the op layer hands it a contiguous
    // buffer): give it one, then copy that into the strided view.
    Tensor dense = make_empty(v.cpu->shape, d, kCpu);
    cpu_ref({dense}, 1, [&](const auto& t) { backend(kCpu).uniform(t[0], -1.0, 3.0, 1234, 77); });
    backend(kCpu).copy(v.cpu, dense);
    Tensor g = to_host(v.gpu);
    for (int64_t i = 0; i < g->numel(); ++i) {
      const uint32_t w = philox::word(1234, 77, uint64_t(i));
      double u = d == DType::Float32 ? double(philox::to_uniform_float(w)) : philox::to_uniform_double(w);
      double ref = -1.0 + 4.0 * u;
      ASSERT_NEAR(get(g, i), ref, std::fabs(ref) * tol_for(d) + 1e-12) << "uniform " << dtype_name(d) << " " << i;
    }
    expect_close(v, tol_for(d), std::string("uniform vs cpu ") + dtype_name(d));
    backend(kGpu).normal(v.gpu, 0.5, 2.0, 99, 5);
    cpu_ref({dense}, 1, [&](const auto& t) { backend(kCpu).normal(t[0], 0.5, 2.0, 99, 5); });
    backend(kCpu).copy(v.cpu, dense);
    g = to_host(v.gpu);
    for (int64_t i = 0; i < g->numel(); ++i) {
      double ref = 0.5 + 2.0 * philox::normal(99, 5, uint64_t(i));
      ASSERT_NEAR(get(g, i), ref, std::fabs(ref) * tol_for(d) * 2 + 1e-6) << "normal " << dtype_name(d) << " " << i;
    }
    expect_close(v, tol_for(d) * 2, std::string("normal vs cpu ") + dtype_name(d), 1e-6);
  }
}

TEST(CudaKernels, SoftmaxForwardBackward) {
  REQUIRE_GPU();
  std::mt19937 rng(13);
  for (DType d : kFloatTypes) {
    for (int64_t n : {1, 10, 31, 1000, 3001}) {
      for (bool log : {false, true}) {
        Pair in = random_pair({9, n}, d, rng);
        Pair out = empty_pair({9, n}, d);
        cpu_ref({out.cpu, in.cpu}, 1, [&](const auto& t) { backend(kCpu).softmax(t[0], t[1], log); });
        backend(kGpu).softmax(out.gpu, in.gpu, log);
        double tol = d == DType::Float32 ? 1e-5 : tol_for(d) * 4;
        expect_close(out, tol, std::string("softmax ") + dtype_name(d), tol);
        Pair go = random_pair({9, n}, d, rng);
        Pair gi = empty_pair({9, n}, d);
        cpu_ref({gi.cpu, go.cpu, out.cpu}, 1,
                [&](const auto& t) { backend(kCpu).softmax_backward(t[0], t[1], t[2], log); });
        backend(kGpu).softmax_backward(gi.gpu, go.gpu, out.gpu, log);
        expect_close(gi, tol * 10, std::string("softmax backward ") + dtype_name(d), tol * 10);
      }
    }
  }
}

// The four normalization primitives over [N, C, S] shapes that cover one
// chunk, several chunks per channel, S = 1 (BatchNorm1d) and long rows
// (layer norm's [1, rows, K]); and the same statistics twice (determinism).
