// test_cuda_kernels.cpp — the CUDA backend against references.
//
// Host tests (run everywhere, no GPU needed): Philox known-answer vectors,
// the strided-layout index math, and the op arithmetic shared by the kernels
// (cuda/ops_math.h) against the C++ standard library and Python semantics.
//
// Device tests (GTEST_SKIP without a visible GPU): every Backend primitive on
// CUDA against the CPU backend on the same random, never-all-zero inputs,
// with odd sizes, transposed / sliced / broadcast (stride-0) layouts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
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

// ======================= device tests =======================

namespace {

bool have_gpu() {
  static bool ok = cuda_device_count() > 0 && register_cuda_backend();
  return ok;
}
#define REQUIRE_GPU() \
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device visible"

const Device kCpu{DeviceType::CPU, 0};
const Device kGpu{DeviceType::CUDA, 0};

double get(const Tensor& t, int64_t i) {  // contiguous CPU tensor, element i
  const char* p = static_cast<const char*>(t->storage->data) + (t->offset + i) * int64_t(itemsize(t->dtype));
  switch (t->dtype) {
    case DType::Bool: return *reinterpret_cast<const bool*>(p);
    case DType::UInt8: return *reinterpret_cast<const uint8_t*>(p);
    case DType::Int8: return *reinterpret_cast<const int8_t*>(p);
    case DType::Int16: return *reinterpret_cast<const int16_t*>(p);
    case DType::Int32: return *reinterpret_cast<const int32_t*>(p);
    case DType::Int64: return double(*reinterpret_cast<const int64_t*>(p));
    case DType::Float16: return half_to_float(*reinterpret_cast<const uint16_t*>(p));
    case DType::BFloat16: return bf16_to_float(*reinterpret_cast<const uint16_t*>(p));
    case DType::Float32: return *reinterpret_cast<const float*>(p);
    case DType::Float64: return *reinterpret_cast<const double*>(p);
  }
  return 0;
}
void set(const Tensor& t, int64_t i, double v) {
  char* p = static_cast<char*>(t->storage->data) + (t->offset + i) * int64_t(itemsize(t->dtype));
  switch (t->dtype) {
    case DType::Bool: *reinterpret_cast<bool*>(p) = v != 0; break;
    case DType::UInt8: *reinterpret_cast<uint8_t*>(p) = uint8_t(v); break;
    case DType::Int8: *reinterpret_cast<int8_t*>(p) = int8_t(v); break;
    case DType::Int16: *reinterpret_cast<int16_t*>(p) = int16_t(v); break;
    case DType::Int32: *reinterpret_cast<int32_t*>(p) = int32_t(v); break;
    case DType::Int64: *reinterpret_cast<int64_t*>(p) = int64_t(v); break;
    case DType::Float16: *reinterpret_cast<uint16_t*>(p) = float_to_half(float(v)); break;
    case DType::BFloat16: *reinterpret_cast<uint16_t*>(p) = float_to_bf16(float(v)); break;
    case DType::Float32: *reinterpret_cast<float*>(p) = float(v); break;
    case DType::Float64: *reinterpret_cast<double*>(p) = v; break;
  }
}

// The same logical tensor on both devices.
struct Pair {
  Tensor cpu, gpu;
};

// Copies the host half of a contiguous pair to its device half, after the
// test has written values into p.cpu.
void upload(const Pair& p) {
  backend(kGpu).copy_from_host(p.gpu->storage->data, p.cpu->storage->data, p.cpu->storage->nbytes, 0);
}

// Random contiguous values, never zero for floats (|v| in [0.25, 2]), small
// nonzero-heavy integers for integer types, both values for bool.
Pair random_pair(const Shape& shape, DType dt, std::mt19937& rng, bool positive = false) {
  Pair p;
  p.cpu = make_empty(shape, dt, kCpu);
  std::uniform_real_distribution<double> mag(0.25, 2.0);
  for (int64_t i = 0; i < p.cpu->numel(); ++i) {
    double v;
    if (is_floating(dt)) v = mag(rng) * ((positive || rng() % 2) ? 1 : -1);
    else if (dt == DType::Bool) v = rng() % 3 != 0;
    else if (dt == DType::UInt8) v = 1 + rng() % 9;
    else v = (positive ? 1.0 : -4.0) + double(rng() % 9);
    set(p.cpu, i, v);
  }
  p.gpu = make_empty(shape, dt, kGpu);
  upload(p);
  return p;
}
Pair empty_pair(const Shape& shape, DType dt) { return {make_empty(shape, dt, kCpu), make_empty(shape, dt, kGpu)}; }
Pair view(const Pair& p, Shape shape, Shape strides, int64_t offset) {
  return {make_view(p.cpu, shape, strides, offset), make_view(p.gpu, shape, strides, offset)};
}
// [.., a, b] -> its transpose as a view of a contiguous [.., b, a] pair.
Pair transposed(const Shape& shape, DType dt, std::mt19937& rng, bool positive = false) {
  Shape base = shape;
  std::swap(base[base.size() - 1], base[base.size() - 2]);
  Pair p = random_pair(base, dt, rng, positive);
  Shape st = contiguous_strides(base);
  std::swap(st[st.size() - 1], st[st.size() - 2]);
  return view(p, shape, st, 0);
}

// A contiguous CPU copy of a (possibly strided) tensor of either device.
Tensor to_host(const Tensor& t) {
  Tensor out = make_empty(t->shape, t->dtype, kCpu);
  if (t->device().is_cpu()) {
    backend(kCpu).copy(out, t);
    return out;
  }
  Tensor c = make_empty(t->shape, t->dtype, t->device());
  backend(kGpu).copy(c, t);
  backend(kGpu).copy_to_host(out->storage->data, c->storage->data, c->storage->nbytes, 0);
  return out;
}

// A contiguous CPU copy of a CPU tensor in dtype `dt`.
Tensor cpu_as(const Tensor& t, DType dt) {
  Tensor out = make_empty(t->shape, dt, kCpu);
  backend(kCpu).copy(out, t);
  return out;
}

// The CPU reference of one primitive. The CPU kernels take 16-bit floats only
// through the op layer, which computes them in float32 (called directly they
// throw TypeError, or, for put, add the bit patterns); the reference does the
// same: `f` gets float32 copies of the 16-bit float tensors among `ts` (the
// others as they are), and the first `n_out` come back rounded into `ts`.
void cpu_ref(const std::vector<Tensor>& ts, size_t n_out, const std::function<void(const std::vector<Tensor>&)>& f) {
  std::vector<Tensor> up = ts;
  for (Tensor& t : up)
    if (t->dtype == DType::Float16 || t->dtype == DType::BFloat16) t = cpu_as(t, DType::Float32);
  f(up);
  for (size_t k = 0; k < n_out; ++k)
    if (up[k] != ts[k]) backend(kCpu).copy(ts[k], up[k]);
}

double tol_for(DType dt) {
  switch (dt) {
    case DType::Float16: return 2e-3;
    case DType::BFloat16: return 1.6e-2;
    case DType::Float32: return 2e-5;
    case DType::Float64: return 1e-12;
    default: return 0;
  }
}

void expect_close(const Pair& p, double rtol, const std::string& what, double atol = -1) {
  Tensor a = to_host(p.cpu), b = to_host(p.gpu);
  ASSERT_EQ(a->shape, b->shape) << what;
  if (atol < 0) atol = rtol;
  int bad = 0;
  for (int64_t i = 0; i < a->numel() && bad < 5; ++i) {
    double x = get(a, i), y = get(b, i);
    if (std::isnan(x) && std::isnan(y)) continue;
    if (std::isinf(x) && x == y) continue;
    if (!(std::fabs(x - y) <= atol + rtol * std::fabs(x))) {
      ADD_FAILURE() << what << ": element " << i << " cpu " << x << " cuda " << y;
      ++bad;
    }
  }
}

const DType kAllTypes[] = {DType::Bool,    DType::UInt8,    DType::Int8,    DType::Int16,  DType::Int32,
                           DType::Int64,   DType::Float16,  DType::BFloat16, DType::Float32, DType::Float64};
const DType kFloatTypes[] = {DType::Float16, DType::BFloat16, DType::Float32, DType::Float64};

}  // namespace

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
  const Case cases[] = {{1, 1, 1, 1},     {1, 17, 33, 65},    {3, 130, 257, 129}, {2, 64, 64, 64},
                        {1, 300, 7, 5},   {1, 5, 500, 3},     {1, 136, 264, 200}, {2, 256, 104, 392}};
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
