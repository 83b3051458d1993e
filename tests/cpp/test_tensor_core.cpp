// Tensor core tests: dtype promotion, 16-bit float conversions, broadcasting,
// view geometry, a few kernels against naive loops, and the exception types
// the op layer throws for bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "csrc/error.h"
#include "csrc/ops/ops.h"
#include "csrc/tensor.h"

using namespace ember;

namespace {

const Device kCpu{};

Tensor from_vec(const std::vector<float>& v, const Shape& shape) { return from_host(v.data(), shape, DType::Float32, kCpu); }

Tensor from_vec(const std::vector<int64_t>& v, const Shape& shape) { return from_host(v.data(), shape, DType::Int64, kCpu); }

// Element at a multi-index, read through the tensor's strides.
template <typename T>
T at(const Tensor& t, const std::vector<int64_t>& idx) {
  int64_t off = 0;
  for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * t->strides[d];
  return t->data<T>()[off];
}

std::vector<float> to_vec(const Tensor& t_in) {
  Tensor t = contiguous(to_dtype(t_in, DType::Float32));
  return std::vector<float>(t->data<float>(), t->data<float>() + t->numel());
}

std::vector<float> random_floats(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-2.f, 2.f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

}  // namespace

// ---------------------------------------------------------------- dtypes

TEST(DType, PromotionLattice) {
  EXPECT_EQ(promote_types(DType::Int32, DType::Int64), DType::Int64);
  EXPECT_EQ(promote_types(DType::Bool, DType::Int32), DType::Int32);
  EXPECT_EQ(promote_types(DType::Bool, DType::Bool), DType::Bool);
  EXPECT_EQ(promote_types(DType::Int64, DType::Float32), DType::Float32);
  EXPECT_EQ(promote_types(DType::Float32, DType::Float64), DType::Float64);
  EXPECT_EQ(promote_types(DType::Float16, DType::BFloat16), DType::Float32);
  EXPECT_EQ(promote_types(DType::Float16, DType::Int64), DType::Float16);
  EXPECT_EQ(promote_types(DType::UInt8, DType::Int8), DType::Int16);
  for (int i = 0; i < kNumDTypes; ++i)
    for (int j = 0; j < kNumDTypes; ++j)
      EXPECT_EQ(promote_types(DType(i), DType(j)), promote_types(DType(j), DType(i))) << i << "," << j;
}

TEST(DType, NamesAndSizes) {
  EXPECT_STREQ(dtype_name(DType::Float32), "float32");
  EXPECT_STREQ(dtype_name(DType::Bool), "bool");
  EXPECT_EQ(itemsize(DType::Float64), 8u);
  EXPECT_EQ(itemsize(DType::BFloat16), 2u);
  EXPECT_EQ(itemsize(DType::Bool), 1u);
  EXPECT_EQ(dtype_from_name("long"), DType::Int64);
  EXPECT_EQ(dtype_from_name("float"), DType::Float32);
  EXPECT_THROW(dtype_from_name("complex64"), TypeError);
  EXPECT_TRUE(is_floating(DType::BFloat16));
  EXPECT_FALSE(is_floating(DType::Int32));
}

TEST(DType, ResultTypeWithScalarsAndZeroDim) {
  Tensor i32 = make_empty({3}, DType::Int32, kCpu);
  Tensor f32 = make_empty({3}, DType::Float32, kCpu);
  // A wrapped Python float raises an int tensor to the default float only.
  EXPECT_EQ(result_type(i32, wrap_scalar(Scalar(2.5), kCpu)), DType::Float32);
  EXPECT_EQ(result_type(i32, wrap_scalar(Scalar(int64_t(2)), kCpu)), DType::Int32);
  EXPECT_EQ(result_type(f32, wrap_scalar(Scalar(2.5), kCpu)), DType::Float32);
  // A 0-d float64 tensor does not promote a float32 tensor with dims.
  EXPECT_EQ(result_type(f32, scalar_tensor(Scalar(1.0), DType::Float64, kCpu)), DType::Float32);
  // ... but a 0-d float tensor does raise an int tensor's category.
  EXPECT_EQ(result_type(i32, scalar_tensor(Scalar(1.0), DType::Float64, kCpu)), DType::Float64);
  EXPECT_EQ(result_type(i32, make_empty({3}, DType::Int64, kCpu)), DType::Int64);
}

TEST(Half, RoundTripsExactValues) {
  const float exact[] = {0.f, -0.f, 1.f, -1.f, 0.5f, 2048.f, 65504.f, -65504.f, 6.103515625e-05f, 5.96046448e-08f};
  for (float f : exact) EXPECT_EQ(half_to_float(float_to_half(f)), f) << f;
  // every half bit pattern survives half -> float -> half (NaNs stay NaN)
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = half_to_float(uint16_t(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(half_to_float(float_to_half(f))));
    } else {
      EXPECT_EQ(float_to_half(f), uint16_t(h)) << h;
    }
  }
}

TEST(Half, RoundsToNearestEvenAndOverflows) {
  EXPECT_EQ(half_to_float(float_to_half(1.f + 1.f / 4096)), 1.f);  // below half an ulp
  EXPECT_EQ(half_to_float(float_to_half(1.f + 1.f / 2048)), 1.f);  // tie -> even
  EXPECT_EQ(half_to_float(float_to_half(1.f + 3.f / 2048)), 1.f + 2.f / 1024);  // tie -> even (up)
  EXPECT_TRUE(std::isinf(half_to_float(float_to_half(1e6f))));
  EXPECT_TRUE(std::isinf(half_to_float(float_to_half(std::numeric_limits<float>::infinity()))));
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(std::nanf("")))));
  EXPECT_EQ(half_to_float(float_to_half(1e-9f)), 0.f);
}

TEST(BFloat16, RoundTrips) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    float f = bf16_to_float(uint16_t(b));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(f))));
    } else {
      EXPECT_EQ(float_to_bf16(f), uint16_t(b)) << b;
    }
  }
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.f + 1.f / 256)), 1.f);  // tie -> even
  EXPECT_EQ(bf16_to_float(float_to_bf16(3.140625f)), 3.140625f);
}

TEST(Half, TensorConversions) {
  std::vector<float> v = {0.1f, -2.5f, 1000.f, 3.14159f};
  Tensor f = from_vec(v, {4});
  Tensor h = to_dtype(f, DType::Float16);
  EXPECT_EQ(h->dtype, DType::Float16);
  std::vector<float> back = to_vec(h);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(back[i], v[i], std::abs(v[i]) * 1e-3f);
  Tensor b = to_dtype(f, DType::BFloat16);
  back = to_vec(b);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(back[i], v[i], std::abs(v[i]) * 8e-3f);
  // arithmetic on half tensors computes in float32 and stores half
  Tensor s = add(h, h);
  EXPECT_EQ(s->dtype, DType::Float16);
  EXPECT_NEAR(to_vec(s)[3], 2 * 3.14159f, 1e-2f);
}

// ---------------------------------------------------------------- shapes and views

TEST(Broadcast, Shapes) {
  EXPECT_EQ(broadcast_shapes({3, 1}, {1, 2}), (Shape{3, 2}));
  EXPECT_EQ(broadcast_shapes({2, 3, 4}, {4}), (Shape{2, 3, 4}));
  EXPECT_EQ(broadcast_shapes({}, {2, 3}), (Shape{2, 3}));
  EXPECT_EQ(broadcast_shapes({0, 3}, {1, 3}), (Shape{0, 3}));
  EXPECT_EQ(broadcast_shapes({5, 1, 1}, {6, 1}), (Shape{5, 6, 1}));
  EXPECT_THROW(broadcast_shapes({3, 4}, {2, 4}), Error);
  EXPECT_THROW(broadcast_shapes({0}, {2}), Error);
  try {
    broadcast_shapes({3, 4}, {2, 4});
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[3, 4]"), std::string::npos) << e.what();
  }
}

TEST(Views, StridesAndSharing) {
  Tensor a = arange(0, 24, 1, DType::Float32, kCpu);
  EXPECT_EQ(a->strides, (Shape{1}));
  Tensor r = reshape(a, {2, 3, 4});
  EXPECT_EQ(r->strides, (Shape{12, 4, 1}));
  EXPECT_EQ(r->storage, a->storage);
  Tensor p = permute(r, {2, 0, 1});
  EXPECT_EQ(p->shape, (Shape{4, 2, 3}));
  EXPECT_EQ(p->strides, (Shape{1, 12, 4}));
  EXPECT_FALSE(p->is_contiguous());
  Tensor tr = transpose(r, 0, 2);
  EXPECT_EQ(tr->strides, (Shape{1, 4, 12}));
  Tensor s = slice(r, 2, 1, std::nullopt, 2);  // r[:, :, 1::2]
  EXPECT_EQ(s->shape, (Shape{2, 3, 2}));
  EXPECT_EQ(s->strides, (Shape{12, 4, 2}));
  EXPECT_EQ(s->offset, 1);
  EXPECT_EQ(at<float>(s, {1, 2, 1}), 12 + 8 + 3);
  Tensor sel = select(r, 1, -1);
  EXPECT_EQ(sel->shape, (Shape{2, 4}));
  EXPECT_EQ(sel->offset, 8);
  Tensor u = unsqueeze(sel, 1);
  EXPECT_EQ(u->shape, (Shape{2, 1, 4}));
  Tensor e = expand(u, {2, 5, 4});
  EXPECT_EQ(e->strides[1], 0);
  EXPECT_EQ(e->storage, a->storage);
  EXPECT_THROW(view(tr, {24}), Error);        // not viewable
  Tensor c = reshape(tr, {24});                // copies instead
  EXPECT_NE(c->storage, a->storage);
  EXPECT_EQ(to_vec(c)[1], 12.f);
  EXPECT_EQ(view(r, {-1, 6})->shape, (Shape{4, 6}));
  EXPECT_EQ(squeeze(u, std::nullopt)->shape, (Shape{2, 4}));
  EXPECT_EQ(flatten(r, 1, 2)->shape, (Shape{2, 12}));
}

TEST(Views, InPlaceThroughViewBumpsSharedVersion) {
  Tensor a = zeros({3, 4}, DType::Float32, kCpu);
  Tensor v = select(a, 0, 1);
  uint32_t before = a->current_version();
  fill_(v, Scalar(5.0));
  EXPECT_GT(a->current_version(), before);
  EXPECT_EQ(at<float>(a, {1, 2}), 5.f);
  EXPECT_EQ(at<float>(a, {0, 2}), 0.f);
}

// ---------------------------------------------------------------- kernels vs naive loops

TEST(Kernels, BinaryBroadcastStrided) {
  auto av = random_floats(6 * 5, 1), bv = random_floats(5, 2);
  Tensor a = transpose(from_vec(av, {5, 6}), 0, 1);  // (6, 5), non-contiguous
  Tensor b = from_vec(bv, {5});
  Tensor out = mul(add(a, b), a);
  ASSERT_EQ(out->shape, (Shape{6, 5}));
  auto o = to_vec(out);
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 5; ++j) {
      float x = av[j * 6 + i];
      EXPECT_FLOAT_EQ(o[i * 5 + j], (x + bv[j]) * x);
    }
}

TEST(Kernels, SumAndMaxAlongDims) {
  const int64_t n = 37, m = 129;
  auto v = random_floats(n * m, 3);
  Tensor a = from_vec(v, {n, m});
  auto s0 = to_vec(sum(a, {0}, false)), s1 = to_vec(sum(a, {1}, true));
  auto [mx, arg] = max_dim(a, 1, false);
  auto mxv = to_vec(mx);
  for (int64_t j = 0; j < m; ++j) {
    double ref = 0;
    for (int64_t i = 0; i < n; ++i) ref += v[i * m + j];
    EXPECT_NEAR(s0[j], ref, 1e-4);
  }
  for (int64_t i = 0; i < n; ++i) {
    double ref = 0;
    float best = -1e30f;
    int64_t best_j = 0;
    for (int64_t j = 0; j < m; ++j) {
      ref += v[i * m + j];
      if (v[i * m + j] > best) best = v[i * m + j], best_j = j;
    }
    EXPECT_NEAR(s1[i], ref, 1e-4);
    EXPECT_EQ(mxv[i], best);
    EXPECT_EQ(at<int64_t>(arg, {i}), best_j);
  }
  EXPECT_EQ(sum(a, {1}, true)->shape, (Shape{n, 1}));
}

TEST(Kernels, CumsumIntegers) {
  std::vector<int64_t> v = {1, -2, 3, 4, 5, 6};
  Tensor c = cumsum(from_vec(v, {2, 3}), 1);
  EXPECT_EQ(c->dtype, DType::Int64);
  std::vector<int64_t> expect = {1, -1, 2, 4, 9, 15};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(c->data<int64_t>()[i], expect[i]);
}

TEST(Kernels, MatmulVsNaive) {
  for (auto [M, K, N] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {3, 5, 7}, {33, 65, 17}, {128, 96, 130}}) {
    auto av = random_floats(M * K, 4), bv = random_floats(K * N, 5);
    Tensor a = from_vec(av, {M, K}), b = from_vec(bv, {K, N});
    auto c = to_vec(matmul(a, b));
    auto ct = to_vec(matmul(contiguous(transpose(transpose(a, 0, 1), 0, 1)), transpose(contiguous(transpose(b, 0, 1)), 0, 1)));
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double ref = 0;
        for (int64_t k = 0; k < K; ++k) ref += double(av[i * K + k]) * bv[k * N + j];
        EXPECT_NEAR(c[i * N + j], ref, 1e-4 * (1 + std::abs(ref))) << M << "x" << K << "x" << N;
        EXPECT_NEAR(ct[i * N + j], ref, 1e-4 * (1 + std::abs(ref)));
      }
  }
}

TEST(Kernels, BatchedMatmulBroadcasts) {
  auto av = random_floats(2 * 1 * 3 * 4, 6), bv = random_floats(5 * 4 * 2, 7);
  Tensor c = matmul(from_vec(av, {2, 1, 3, 4}), from_vec(bv, {5, 4, 2}));
  ASSERT_EQ(c->shape, (Shape{2, 5, 3, 2}));
  auto cv = to_vec(c);
  for (int p = 0; p < 2; ++p)
    for (int q = 0; q < 5; ++q)
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 2; ++j) {
          double ref = 0;
          for (int k = 0; k < 4; ++k) ref += double(av[p * 12 + i * 4 + k]) * bv[q * 8 + k * 2 + j];
          EXPECT_NEAR(cv[((p * 5 + q) * 3 + i) * 2 + j], ref, 1e-5);
        }
}

TEST(Kernels, IntegerDivisionFloors) {
  std::vector<int64_t> a = {-7, -6, -1, 0, 1, 6, 7}, b = {3, 3, 3, 3, 3, 3, -3};
  Tensor q = binary(BinaryOp::FloorDiv, from_vec(a, {7}), from_vec(b, {7}));
  Tensor r = binary(BinaryOp::Remainder, from_vec(a, {7}), from_vec(b, {7}));
  for (int i = 0; i < 7; ++i) {
    int64_t fq = static_cast<int64_t>(std::floor(double(a[i]) / b[i]));
    EXPECT_EQ(q->data<int64_t>()[i], fq);
    EXPECT_EQ(r->data<int64_t>()[i], a[i] - fq * b[i]);
  }
  Tensor d = div(from_vec(a, {7}), from_vec(b, {7}));
  EXPECT_EQ(d->dtype, DType::Float32);
}

// ---------------------------------------------------------------- errors

TEST(Errors, TypesThrown) {
  Tensor a = zeros({3, 4}, DType::Float32, kCpu);
  EXPECT_THROW(add(a, zeros({2, 4}, DType::Float32, kCpu)), Error);
  EXPECT_THROW(reshape(a, {5, 3}), Error);
  EXPECT_THROW(select(a, 0, 3), IndexError);
  EXPECT_THROW(select(a, 2, 0), IndexError);
  EXPECT_THROW(sum(a, {2}, false), IndexError);
  EXPECT_THROW(transpose(a, 0, 5), IndexError);
  EXPECT_THROW(mm(a, zeros({3, 2}, DType::Float32, kCpu)), Error);
  EXPECT_THROW(mm(a, zeros({4, 2}, DType::Float64, kCpu)), Error);
  EXPECT_THROW(cat({a, zeros({3, 3}, DType::Float32, kCpu)}, 0), Error);
  EXPECT_THROW(expand(a, {2, 4}), Error);
  EXPECT_THROW(item(a), Error);
  EXPECT_THROW(binary(BinaryOp::FloorDiv, arange(0, 3, 1, DType::Int64, kCpu), zeros({3}, DType::Int64, kCpu)),
               Error);
  EXPECT_THROW(make_empty({-1}, DType::Float32, kCpu), Error);
  EXPECT_THROW(wrap_dim(3, 2), IndexError);
  EXPECT_EQ(wrap_dim(-1, 2), 1);
}

TEST(Errors, MessagesNameShapes) {
  Tensor a = zeros({3, 4}, DType::Float32, kCpu);
  try {
    reshape(a, {5, 3});
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("[5, 3]"), std::string::npos) << m;
    EXPECT_NE(m.find("12"), std::string::npos) << m;
  }
  try {
    mm(a, zeros({3, 2}, DType::Float32, kCpu));
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("3x4"), std::string::npos) << m;
    EXPECT_NE(m.find("3x2"), std::string::npos) << m;
  }
}
