// cuda_test_util.h — what the CUDA kernel tests share: the same logical
// tensor on both devices (Pair), random never-all-zero inputs, host copies,
// the CPU reference of a primitive, and element-wise comparison. Each test
// file is its own executable; these are inline so any of them may include it.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "csrc/backend.h"
#include "csrc/tensor.h"
#include "cuda/cuda_api.h"

namespace ember::cuda_test {


inline bool have_gpu() {
  static bool ok = cuda_device_count() > 0 && register_cuda_backend();
  return ok;
}
inline const Device kCpu{DeviceType::CPU, 0};
inline const Device kGpu{DeviceType::CUDA, 0};

inline double get(const Tensor& t, int64_t i) {  // contiguous CPU tensor, element i
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
inline void set(const Tensor& t, int64_t i, double v) {
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
inline void upload(const Pair& p) {
  backend(kGpu).copy_from_host(p.gpu->storage->data, p.cpu->storage->data, p.cpu->storage->nbytes, 0);
}

// Random contiguous values, never zero for floats (|v| in [0.25, 2]), small
// nonzero-heavy integers for integer types, both values for bool.
inline Pair random_pair(const Shape& shape, DType dt, std::mt19937& rng, bool positive = false) {
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
inline Pair empty_pair(const Shape& shape, DType dt) { return {make_empty(shape, dt, kCpu), make_empty(shape, dt, kGpu)}; }
inline Pair view(const Pair& p, Shape shape, Shape strides, int64_t offset) {
  return {make_view(p.cpu, shape, strides, offset), make_view(p.gpu, shape, strides, offset)};
}
// [.., a, b] -> its transpose as a view of a contiguous [.., b, a] pair.
inline Pair transposed(const Shape& shape, DType dt, std::mt19937& rng, bool positive = false) {
  Shape base = shape;
  std::swap(base[base.size() - 1], base[base.size() - 2]);
  Pair p = random_pair(base, dt, rng, positive);
  Shape st = contiguous_strides(base);
  std::swap(st[st.size() - 1], st[st.size() - 2]);
  return view(p, shape, st, 0);
}

// A contiguous CPU copy of a (possibly strided) tensor of either device.
inline Tensor to_host(const Tensor& t) {
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
inline Tensor cpu_as(const Tensor& t, DType dt) {
  Tensor out = make_empty(t->shape, dt, kCpu);
  backend(kCpu).copy(out, t);
  return out;
}

// The CPU reference of one primitive. The CPU kernels take 16-bit floats only
// through the op layer, which computes them in float32 (called directly they
// throw TypeError, or, for put, add the bit patterns); the reference does the
// same: `f` gets float32 copies of the 16-bit float tensors among `ts` (the
// others as they are), and the first `n_out` come back rounded into `ts`.
inline void cpu_ref(const std::vector<Tensor>& ts, size_t n_out, const std::function<void(const std::vector<Tensor>&)>& f) {
  std::vector<Tensor> up = ts;
  for (Tensor& t : up)
    if (t->dtype == DType::Float16 || t->dtype == DType::BFloat16) t = cpu_as(t, DType::Float32);
  f(up);
  for (size_t k = 0; k < n_out; ++k)
    if (up[k] != ts[k]) backend(kCpu).copy(ts[k], up[k]);
}

inline double tol_for(DType dt) {
  switch (dt) {
    case DType::Float16: return 2e-3;
    case DType::BFloat16: return 1.6e-2;
    case DType::Float32: return 2e-5;
    case DType::Float64: return 1e-12;
    default: return 0;
  }
}

inline void expect_close(const Pair& p, double rtol, const std::string& what, double atol = -1) {
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

inline const DType kAllTypes[] = {DType::Bool,    DType::UInt8,    DType::Int8,    DType::Int16,  DType::Int32,
                           DType::Int64,   DType::Float16,  DType::BFloat16, DType::Float32, DType::Float64};
inline const DType kFloatTypes[] = {DType::Float16, DType::BFloat16, DType::Float32, DType::Float64};

}  // namespace ember::cuda_test

// Skips a device test where no GPU is visible.
#define REQUIRE_GPU() \
  if (!::ember::cuda_test::have_gpu()) GTEST_SKIP() << "no CUDA device visible"
