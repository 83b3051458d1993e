// test_cuda_host_math.cpp — the CUDA backend's arithmetic checked on the
// host (no GPU needed, runs everywhere): Philox known-answer vectors, the
// strided-layout index math (cuda/index_math.h), and the op arithmetic the
// kernels share (cuda/ops_math.h) against the C++ standard library and
// Python semantics; and the CUDA API's answers on a machine without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "csrc/backend.h"
#include "csrc/error.h"
#include "csrc/philox.h"
#include "csrc/tensor.h"
#include "cuda/cuda_api.h"
#include "cuda/index_math.h"
#include "cuda/ops_math.h"

using namespace ember;
using ember::cuda::Layout;
using ember::cuda::make_layout;

// ======================= host tests =======================

TEST(CudaHost, PhiloxKnownAnswers) {
  // Known-answer vectors of Philox4x32-10 from the Random123 distribution.
  struct Kat {
    uint32_t ctr[4];
    uint32_t k0, k1;
    uint32_t out[4];
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, 0, 0, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
      {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
       0xffffffffu,
       0xffffffffu,
       {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
      {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
       0xa4093822u,
       0x299f31d0u,
       {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
  };
  for (const Kat& k : kats) {
    philox::Block b = philox::philox4x32_10(k.ctr, k.k0, k.k1);
    for (int j = 0; j < 4; ++j) EXPECT_EQ(b.w[j], k.out[j]) << "word " << j;
  }
}

TEST(CudaHost, PhiloxStreamConvention) {
  // Element i uses counter offset + i/4, word i%4; the offset shifts blocks.
  for (uint64_t i = 0; i < 64; ++i) {
    EXPECT_EQ(philox::word(42, 7, i), philox::block(42, 7 + i / 4).w[i % 4]);
    EXPECT_EQ(philox::word(42, 7, i + 4), philox::word(42, 8, i));
  }
  // Uniform floats in [0, 1); normals with mean ~0 and variance ~1.
  double s = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    float u = philox::to_uniform_float(philox::word(1, 0, i));
    ASSERT_GE(u, 0.f);
    ASSERT_LT(u, 1.f);
    double z = philox::normal(1, 0, i);
    ASSERT_TRUE(std::isfinite(z));
    s += z;
    s2 += z * z;
  }
  EXPECT_NEAR(s / n, 0.0, 0.01);
  EXPECT_NEAR(s2 / n, 1.0, 0.02);
  EXPECT_LT(philox::to_uniform_float(0xffffffffu), 1.f);
  EXPECT_LT(philox::to_uniform_double(0xffffffffu), 1.0);
}

namespace {
// Brute-force offsets of a row-major walk, for comparison with Layout.
int64_t brute_offset(const Shape& shape, const Shape& strides, int64_t i) {
  int64_t off = 0;
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    off += (i % shape[d]) * strides[d];
    i /= shape[d];
  }
  return off;
}
}  // namespace

TEST(CudaHost, LayoutCoalescing) {
  Shape shape{2, 3, 4};
  Shape c = contiguous_strides(shape);
  Shape bcast{0, 0, 0};
  const std::vector<int64_t>* s2[2] = {&c, &bcast};
  Layout<2> L;
  ASSERT_TRUE(make_layout<2>(shape, s2, &L));
  EXPECT_EQ(L.ndim, 1);  // contiguous and all-zero strides merge fully
  EXPECT_EQ(L.sizes[0], 24);
  EXPECT_EQ(L.strides[0][0], 1);
  EXPECT_EQ(L.strides[1][0], 0);
  EXPECT_TRUE((Layout<1>{}.all_contiguous()));

  Shape t{1, 4, 12};  // a transposed [2,3,4] -> walk of shape [4,3,2]? use a permutation
  Shape tshape{4, 3, 2};
  const std::vector<int64_t>* s1[1] = {&t};
  Layout<1> T;
  ASSERT_TRUE(make_layout<1>(tshape, s1, &T));
  EXPECT_EQ(T.ndim, 3);
  EXPECT_FALSE(T.all_contiguous());

  Shape e{0, 5};
  Shape es = contiguous_strides(e);
  const std::vector<int64_t>* se[1] = {&es};
  Layout<1> E;
  ASSERT_TRUE(make_layout<1>(e, se, &E));
  EXPECT_EQ(E.numel, 0);
}

TEST(CudaHost, LayoutOffsetsMatchBruteForce) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 300; ++trial) {
    int nd = 1 + rng() % 6;
    Shape shape(nd), sa(nd), sb(nd);
    for (int d = 0; d < nd; ++d) shape[d] = 1 + rng() % 5;
    // a: a permuted contiguous layout; b: random strides, some zero (broadcast)
    std::vector<int> perm(nd);
    for (int d = 0; d < nd; ++d) perm[d] = d;
    std::shuffle(perm.begin(), perm.end(), rng);
    int64_t st = 1;
    for (int d = nd - 1; d >= 0; --d) {
      sa[perm[d]] = st;
      st *= shape[perm[d]];
    }
    for (int d = 0; d < nd; ++d) sb[d] = (rng() % 3 == 0) ? 0 : int64_t(rng() % 7) + 1;
    if (trial % 4 == 0) sb = contiguous_strides(shape);
    const std::vector<int64_t>* ss[2] = {&sa, &sb};
    Layout<2> L;
    ASSERT_TRUE(make_layout<2>(shape, ss, &L));
    ASSERT_LE(L.ndim, nd);
    for (int64_t i = 0; i < L.numel; ++i) {
      int64_t off[2];
      L.offsets(i, off);
      ASSERT_EQ(off[0], brute_offset(shape, sa, i)) << "trial " << trial << " i " << i;
      ASSERT_EQ(off[1], brute_offset(shape, sb, i));
      ASSERT_EQ(L.offset(i, 1), off[1]);
    }
  }
}

TEST(CudaHost, UnaryMath) {
  using cuda::unary_apply;
  const float xs[] = {0.3f, 1.7f, -2.5f, 2.5f, 0.5f, -0.5f, 3.0f};
  for (float x : xs) {
    EXPECT_FLOAT_EQ(unary_apply(UnaryOp::Exp, x), std::exp(x));
    EXPECT_FLOAT_EQ(unary_apply(UnaryOp::Tanh, x), std::tanh(x));
    EXPECT_FLOAT_EQ(unary_apply(UnaryOp::Sigmoid, x), 1.f / (1.f + std::exp(-x)));
    EXPECT_FLOAT_EQ(unary_apply(UnaryOp::Round, x), std::nearbyint(x));  // half to even
    EXPECT_FLOAT_EQ(unary_apply(UnaryOp::Relu, x), x > 0 ? x : 0.f);
    EXPECT_FLOAT_EQ(unary_apply(UnaryOp::Erf, x), std::erf(x));
    EXPECT_FLOAT_EQ(unary_apply(UnaryOp::Sinh, x), std::sinh(x));
    EXPECT_DOUBLE_EQ(unary_apply(UnaryOp::Cosh, double(x)), std::cosh(double(x)));
    EXPECT_DOUBLE_EQ(unary_apply(UnaryOp::Expm1, double(x)), std::expm1(double(x)));
  }
  EXPECT_EQ(unary_apply(UnaryOp::Round, 2.5f), 2.f);
  EXPECT_TRUE(std::isnan(unary_apply(UnaryOp::Relu, std::nanf(""))));
  EXPECT_EQ(unary_apply(UnaryOp::Sign, std::nanf("")), 0.f);  // the CPU backend's rule
  EXPECT_EQ(unary_apply(UnaryOp::Sign, -2.5), -1.0);
  EXPECT_EQ(unary_apply(UnaryOp::Abs, int64_t(-4)), 4);
  EXPECT_EQ(unary_apply(UnaryOp::Sign, int32_t(-4)), -1);
  EXPECT_EQ(unary_apply(UnaryOp::Sign, uint8_t(0)), 0);
  EXPECT_EQ(unary_apply(UnaryOp::BitwiseNot, int32_t(5)), ~5);
  EXPECT_EQ(unary_apply(UnaryOp::LogicalNot, 0.0), 1.0);
}

TEST(CudaHost, BinaryMathPythonSemantics) {
  using cuda::binary_apply;
  // floor division and remainder follow the divisor's sign, as in Python.
  EXPECT_EQ(binary_apply(BinaryOp::FloorDiv, int64_t(-7), int64_t(2)), -4);
  EXPECT_EQ(binary_apply(BinaryOp::FloorDiv, int64_t(7), int64_t(-2)), -4);
  EXPECT_EQ(binary_apply(BinaryOp::Remainder, int64_t(-7), int64_t(2)), 1);
  EXPECT_EQ(binary_apply(BinaryOp::Remainder, int64_t(7), int64_t(-2)), -1);
  EXPECT_EQ(binary_apply(BinaryOp::FloorDiv, int64_t(7), int64_t(0)), 0);  // no crash
  EXPECT_DOUBLE_EQ(binary_apply(BinaryOp::FloorDiv, -7.5, 2.0), -4.0);
  EXPECT_DOUBLE_EQ(binary_apply(BinaryOp::Remainder, -7.5, 2.0), 0.5);
  EXPECT_DOUBLE_EQ(binary_apply(BinaryOp::Remainder, 7.5, -2.0), -0.5);
  EXPECT_EQ(binary_apply(BinaryOp::Pow, int64_t(3), int64_t(4)), 81);
  EXPECT_EQ(binary_apply(BinaryOp::Pow, int64_t(-1), int64_t(-3)), -1);
  EXPECT_FLOAT_EQ(binary_apply(BinaryOp::Pow, 2.f, 0.5f), std::sqrt(2.f));
  EXPECT_TRUE(std::isnan(binary_apply(BinaryOp::Maximum, std::nanf(""), 1.f)));
  EXPECT_TRUE(std::isnan(binary_apply(BinaryOp::Minimum, 1.f, std::nanf(""))));
  EXPECT_EQ(binary_apply(BinaryOp::ReluBackward, 3.f, -1.f), 0.f);
  EXPECT_EQ(binary_apply(BinaryOp::ReluBackward, 3.f, 2.f), 3.f);
  EXPECT_FLOAT_EQ(binary_apply(BinaryOp::SigmoidBackward, 2.f, 0.25f), 2.f * 0.25f * 0.75f);
  EXPECT_FLOAT_EQ(binary_apply(BinaryOp::TanhBackward, 2.f, 0.5f), 2.f * 0.75f);
  EXPECT_EQ(binary_apply(BinaryOp::BitXor, int32_t(6), int32_t(3)), 5);
  EXPECT_TRUE(cuda::compare_apply(BinaryOp::Ne, std::nanf(""), std::nanf("")));
  EXPECT_FALSE(cuda::compare_apply(BinaryOp::Eq, std::nanf(""), std::nanf("")));
  EXPECT_TRUE(cuda::compare_apply(BinaryOp::LogicalXor, 0.f, 2.f));
  EXPECT_EQ(cuda::clamp_apply(5.f, true, 0.f, true, 1.f), 1.f);
  EXPECT_TRUE(std::isnan(cuda::clamp_apply(std::nanf(""), true, 0.f, true, 1.f)));
}

TEST(CudaHost, ReductionCombine) {
  using cuda::ArgPair;
  using cuda::arg_combine;
  ArgPair<float> a{3.f, 5}, b{3.f, 2}, c{std::nanf(""), 9}, none{0.f, -1};
  EXPECT_EQ(arg_combine(true, a, b).i, 2);  // ties: first index
  EXPECT_EQ(arg_combine(true, a, c).i, 9);  // NaN wins
  EXPECT_EQ(arg_combine(false, c, b).i, 9);
  EXPECT_EQ(arg_combine(true, none, a).i, 5);
  EXPECT_EQ(cuda::reduce_combine(ReduceOp::Max, 1.f, std::nanf("")) != cuda::reduce_combine(ReduceOp::Max, 1.f, std::nanf("")), true);
  EXPECT_EQ(cuda::reduce_combine(ReduceOp::All, 1, 0), 0);
  EXPECT_EQ(cuda::reduce_combine(ReduceOp::Any, 0, 3), 1);
}

TEST(CudaHost, ApiWithoutDevice) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is visible";
  EXPECT_FALSE(register_cuda_backend());
  EXPECT_EQ(cuda_memory_allocated(0), 0u);
  EXPECT_THROW(cuda_set_device(0), Error);
  try {
    backend(DeviceType::CUDA);
    FAIL() << "backend(CUDA) should throw without a device";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_TRUE(msg.find("CUDA") != std::string::npos) << msg;
  }
}
