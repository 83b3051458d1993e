// Factory functions: empty, full, arange, linspace, eye, from host memory.
#include <cmath>

#include "../error.h"
#include "ops.h"

namespace ember {

Tensor empty(const Shape& shape, DType dtype, Device device) { return make_empty(shape, dtype, device); }

Tensor full(const Shape& shape, const Scalar& value, DType dtype, Device device) {
  Tensor t = make_empty(shape, dtype, device);
  if (t->numel() > 0) backend(device).fill(t, value);
  return t;
}

Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, Scalar(int64_t(0)), dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, Scalar(int64_t(1)), dtype, device); }

Tensor scalar_tensor(const Scalar& value, DType dtype, Device device) { return full({}, value, dtype, device); }

Tensor arange(double start, double end, double step, DType dtype, Device device) {
  EMBER_CHECK(step != 0, Error, "step must be nonzero");
  EMBER_CHECK(std::isfinite(start) && std::isfinite(end), Error, "unsupported range: ", start, " -> ", end);
  EMBER_CHECK((step > 0 && end >= start) || (step < 0 && end <= start), Error,
              "upper bound and larger bound inconsistent with step sign");
  double count = std::ceil((end - start) / step);
  EMBER_CHECK(count < 1e12, Error, "arange would produce too many elements (", count, ")");
  int64_t n = static_cast<int64_t>(count);
  // Reproduce PyTorch's CPU rounding exactly (D2L's relu-gradient plots
  // depend on arange(-8, 8, 0.1) hitting 4.4e-16 rather than 0): it fills
  // pairs of SIMD vectors (8 floats / 4 doubles each) from a base
  // fma(step, i0, start) rounded to the dtype, lanes fma(j, step, base), and
  // computes the remainder element by element with fma(step, i, start).
  int64_t lanes = dtype == DType::Float32 ? 8 : dtype == DType::Float64 ? 4 : 1;
  int64_t blocked = lanes > 1 ? n - n % (2 * lanes) : 0;
  std::vector<double> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (i < blocked) {
      int64_t i0 = i - i % lanes;
      double base = std::fma(step, static_cast<double>(i0), start);
      if (dtype == DType::Float32) base = static_cast<float>(base);
      values[i] = std::fma(static_cast<double>(i - i0), step, base);
    } else {
      values[i] = std::fma(step, static_cast<double>(i), start);
    }
  }
  Tensor host = from_host(values.data(), {n}, DType::Float64, Device{});
  return to_device(to_dtype(host, dtype), device);
}

Tensor linspace(double start, double end, int64_t steps, DType dtype, Device device) {
  EMBER_CHECK(steps >= 0, Error, "number of steps must be non-negative");
  std::vector<double> values(static_cast<size_t>(steps));
  double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  // PyTorch fills from both ends so the last value is exactly `end`.
  int64_t half = steps / 2;
  for (int64_t i = 0; i < steps; ++i)
    values[i] = i < half ? start + step * static_cast<double>(i) : end - step * static_cast<double>(steps - 1 - i);
  if (steps == 1) values[0] = start;  // a single step is `start`, as in PyTorch
  Tensor host = from_host(values.data(), {steps}, DType::Float64, Device{});
  return to_device(to_dtype(host, dtype), device);
}

Tensor eye(int64_t n, int64_t m, DType dtype, Device device) {
  EMBER_CHECK(n >= 0 && m >= 0, Error, "n and m must be non-negative, got ", n, " and ", m);
  Tensor t = zeros({n, m}, dtype, device);
  int64_t k = std::min(n, m);
  if (k > 0) {
    Tensor diag = make_view(t, {k}, {m + 1}, 0);
    backend(device).fill(diag, Scalar(int64_t(1)));
  }
  return t;
}

Tensor from_host(const void* data, const Shape& shape, DType dtype, Device device) {
  Tensor t = make_empty(shape, dtype, device);
  size_t nbytes = static_cast<size_t>(t->numel()) * itemsize(dtype);
  if (nbytes) backend(device).copy_from_host(t->storage->data, data, nbytes, device.index);
  return t;
}

}  // namespace ember
