// The global generator: a seed plus a Philox counter offset that every
// random op advances, so runs with the same seed repeat exactly.
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <new>

#include <pthread.h>

#include "../autograd/node.h"
#include "../error.h"
#include "ops.h"

namespace ember {

namespace {
// The generator's lock. fork() copies it as it was; a child forked while
// another thread drew numbers would wait for it forever, so the child of a
// fork gets a fresh one (registered with the lock's creation).
std::mutex& rng_mutex() {
  static std::mutex* mutex = [] {
    auto* m = new std::mutex();
    pthread_atfork(nullptr, nullptr, [] { new (&rng_mutex()) std::mutex(); });
    return m;
  }();
  return *mutex;
}
uint64_t g_seed = 67280421310721ull;  // PyTorch's default seed value
uint64_t g_offset = 0;

// Reserves counter space for n elements (4 per Philox block).
uint64_t reserve(int64_t n) {
  std::lock_guard<std::mutex> lock(rng_mutex());
  uint64_t start = g_offset;
  g_offset += static_cast<uint64_t>((n + 3) / 4);
  return start;
}

void check_float(const Tensor& t, const char* op) {
  EMBER_CHECK(is_floating(t->dtype), Error, op, " expects a floating point tensor, got ", dtype_name(t->dtype));
}

// Fills t (any layout, any float dtype) through a contiguous float buffer.
template <typename F>
Tensor& fill_random(Tensor& t, F fill) {
  check_inplace(t);
  check_no_internal_overlap(t);
  NoGradGuard no_grad;
  bool direct = t->is_contiguous() && (t->dtype == DType::Float32 || t->dtype == DType::Float64);
  Tensor buf = direct ? t : make_empty(t->shape, DType::Float32, t->device());
  if (buf->numel()) fill(buf, reserve(buf->numel()));
  if (!direct && t->numel()) backend(t->device()).copy(t, buf);
  t->bump_version();
  return t;
}
}  // namespace

void manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(rng_mutex());
  g_seed = seed;
  g_offset = 0;
}

uint64_t initial_seed() {
  std::lock_guard<std::mutex> lock(rng_mutex());
  return g_seed;
}

Tensor& uniform_(Tensor& t, double lo, double hi) {
  check_float(t, "uniform_");
  EMBER_CHECK(lo <= hi, Error, "uniform_ expects to return a [from, to) range, but found from=", lo, " > to=", hi);
  uint64_t seed = initial_seed();
  return fill_random(t, [&](const Tensor& b, uint64_t off) { backend(b->device()).uniform(b, lo, hi, seed, off); });
}

Tensor& normal_(Tensor& t, double mean, double std) {
  check_float(t, "normal_");
  EMBER_CHECK(std >= 0.0, Error, "normal expects std >= 0.0, but found std ", std);
  uint64_t seed = initial_seed();
  return fill_random(t, [&](const Tensor& b, uint64_t off) { backend(b->device()).normal(b, mean, std, seed, off); });
}

Tensor rand(const Shape& shape, DType dtype, Device device) {
  check_float(make_empty({0}, dtype, Device{}), "rand");
  Tensor t = make_empty(shape, dtype, device);
  return uniform_(t, 0.0, 1.0);
}

Tensor randn(const Shape& shape, DType dtype, Device device) {
  check_float(make_empty({0}, dtype, Device{}), "randn");
  Tensor t = make_empty(shape, dtype, device);
  return normal_(t, 0.0, 1.0);
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, DType dtype, Device device) {
  EMBER_CHECK(low < high, Error, "random_ expects 'from' to be less than 'to', but got from=", low, " >= to=", high);
  Tensor u = make_empty(shape, DType::Float64, device);
  uniform_(u, static_cast<double>(low), static_cast<double>(high));
  NoGradGuard no_grad;
  Tensor f = unary(UnaryOp::Floor, u);
  // Guard the top edge against rounding up to `high`.
  f = clamp(f, static_cast<double>(low), static_cast<double>(high - 1));
  return to_dtype(f, dtype);
}

Tensor randperm(int64_t n, DType dtype, Device device) {
  EMBER_CHECK(n >= 0, Error, "n must be non-negative, got ", n);
  // Sorting random keys gives a uniform permutation; do it on the host.
  Tensor keys = make_empty({n}, DType::Float64, Device{});
  uniform_(keys, 0.0, 1.0);
  const double* k = keys->data<double>();
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[i] = i;
  std::stable_sort(perm.begin(), perm.end(), [k](int64_t a, int64_t b) { return k[a] < k[b]; });
  Tensor host = from_host(perm.data(), {n}, DType::Int64, Device{});
  return to_device(to_dtype(host, dtype), device);
}

Tensor bernoulli_mask(const Tensor& like, double p_keep) {
  Tensor u = make_empty(like->shape, DType::Float32, like->device());
  uniform_(u, 0.0, 1.0);
  NoGradGuard no_grad;
  Tensor keep = binary(BinaryOp::Lt, u, wrap_scalar(Scalar(p_keep), like->device()));
  return to_dtype(keep, like->dtype);
}

}  // namespace ember
