// The CUDA backend object, the device API behind ember.cuda, and the one
// visible place where CUDA joins the core's dispatch table
// (register_cuda_backend, called by the Python module at import).
#include <mutex>
#include <string>

#include "cuda/common.cuh"
#include "cuda/cuda_api.h"
#include "cuda/kernels.h"

namespace ember {
namespace cuda {

size_t allocator_allocated(int device);
size_t allocator_peak(int device);
void allocator_empty_cache();

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  int dev = -1;
  cudaGetDevice(&dev);
  cudaGetLastError();  // clear non-sticky errors so the next call starts clean
  const char* base = file;
  for (const char* p = file; *p; ++p)
    if (*p == '/') base = p + 1;
  throw Error(str("CUDA error on cuda:", dev, ": ", call, " failed with ", cudaGetErrorName(err), " (",
                  cudaGetErrorString(err), ") at ", base, ":", line));
}

void check_launch(const char* kernel_name, const char* file, int line) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw_cuda_error(err, str("launch of ", kernel_name).c_str(), file, line);
}

DeviceGuard::DeviceGuard(int device) {
  check_index(device);  // "cuda:7" on a one-GPU machine: say so, not "invalid device ordinal"
  EMBER_CUDA_CHECK(cudaGetDevice(&prev));
  if (prev != device) EMBER_CUDA_CHECK(cudaSetDevice(device));
}
DeviceGuard::~DeviceGuard() {
  int cur = -1;
  if (cudaGetDevice(&cur) == cudaSuccess && cur != prev) cudaSetDevice(prev);
}

namespace {
// An attribute of the current device, read once per device (cache: 64 devices, zero = not yet read).
int cached_attribute(int (&cache)[64], cudaDeviceAttr attr) {
  int dev = 0;
  EMBER_CUDA_CHECK(cudaGetDevice(&dev));
  if (dev < 0 || dev >= 64) dev = 0;
  if (!cache[dev]) EMBER_CUDA_CHECK(cudaDeviceGetAttribute(&cache[dev], attr, dev));
  return cache[dev];
}
}  // namespace

int sm_count() {
  static int counts[64] = {};
  return cached_attribute(counts, cudaDevAttrMultiProcessorCount);
}

int compute_capability_major() {
  static int majors[64] = {};
  return cached_attribute(majors, cudaDevAttrComputeCapabilityMajor);
}

namespace {

struct CudaBackend final : Backend {
  const char* name() const override { return "cuda"; }

  void* allocate(size_t nbytes, int device) override { return allocator_allocate(nbytes, device); }
  void deallocate(void* ptr, size_t, int device) override { allocator_deallocate(ptr, device); }
  // Synchronous: pageable host memory may be reused as soon as we return.
  void copy_from_host(void* dst, const void* src, size_t nbytes, int device) override {
    if (!nbytes) return;
    DeviceGuard g(device);
    EMBER_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyHostToDevice));
  }
  void copy_to_host(void* dst, const void* src, size_t nbytes, int device) override {
    if (!nbytes) return;
    DeviceGuard g(device);
    EMBER_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToHost));
  }
  void synchronize(int device) override {
    DeviceGuard g(device);
    EMBER_CUDA_CHECK(cudaDeviceSynchronize());
  }

  static int dev(const Tensor& t) { return t->device().index; }

  void copy(const Tensor& dst, const Tensor& src) override {
    DeviceGuard g(dev(dst));
    copy_cuda(dst, src);
  }
  void fill(const Tensor& dst, const Scalar& value) override {
    DeviceGuard g(dev(dst));
    fill_cuda(dst, value);
  }
  void unary(UnaryOp op, const Tensor& out, const Tensor& in) override {
    DeviceGuard g(dev(out));
    unary_cuda(op, out, in);
  }
  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) override {
    DeviceGuard g(dev(out));
    binary_cuda(op, out, a, b);
  }
  void clamp(const Tensor& out, const Tensor& in, bool has_lo, double lo, bool has_hi, double hi) override {
    DeviceGuard g(dev(out));
    clamp_cuda(out, in, has_lo, lo, has_hi, hi);
  }
  void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) override {
    DeviceGuard g(dev(out));
    where_cuda(out, cond, a, b);
  }
  void reduce(ReduceOp op, const Tensor& out, const Tensor& in) override {
    DeviceGuard g(dev(out));
    reduce_cuda(op, out, in);
  }
  void arg_reduce(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& in) override {
    DeviceGuard g(dev(in));
    arg_reduce_cuda(is_max, values, indices, in);
  }
  void cumsum(const Tensor& out, const Tensor& in, int64_t dim) override {
    DeviceGuard g(dev(out));
    cumsum_cuda(out, in, dim);
  }
  void matmul(const Tensor& out, const Tensor& a, const Tensor& b, bool accumulate) override {
    DeviceGuard g(dev(out));
    matmul_cuda(out, a, b, accumulate);
  }
  void take(const Tensor& out, const Tensor& src, const Tensor& offsets) override {
    DeviceGuard g(dev(out));
    take_cuda(out, src, offsets);
  }
  void take_rows(const Tensor& out, const Tensor& src, const Tensor& rows) override {
    DeviceGuard g(dev(out));
    take_rows_cuda(out, src, rows);
  }
  void put(const Tensor& dst, const Tensor& offsets, const Tensor& values, bool accumulate) override {
    DeviceGuard g(dev(dst));
    put_cuda(dst, offsets, values, accumulate);
  }
  Tensor nonzero(const Tensor& in) override {
    DeviceGuard g(dev(in));
    return nonzero_cuda(in);
  }
  void uniform(const Tensor& out, double lo, double hi, uint64_t seed, uint64_t offset) override {
    DeviceGuard g(dev(out));
    uniform_cuda(out, lo, hi, seed, offset);
  }
  void normal(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) override {
    DeviceGuard g(dev(out));
    normal_cuda(out, mean, std, seed, offset);
  }
  void softmax(const Tensor& out, const Tensor& in, bool log) override {
    DeviceGuard g(dev(out));
    softmax_cuda(out, in, log);
  }
  void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log) override {
    DeviceGuard g(dev(grad_in));
    softmax_backward_cuda(grad_in, grad_out, out, log);
  }
  void conv2d(const Tensor& out, const Tensor& in, const Tensor& weight, const Tensor& bias,
              const Conv2dParams& p) override {
    DeviceGuard g(dev(out));
    conv2d_cuda(out, in, weight, bias, p);
  }
  void conv2d_backward_input(const Tensor& grad_in, const Tensor& grad_out, const Tensor& weight,
                             const Conv2dParams& p) override {
    DeviceGuard g(dev(grad_in));
    conv2d_backward_input_cuda(grad_in, grad_out, weight, p);
  }
  void conv2d_backward_weight(const Tensor& grad_weight, const Tensor& grad_out, const Tensor& in,
                              const Conv2dParams& p) override {
    DeviceGuard g(dev(grad_weight));
    conv2d_backward_weight_cuda(grad_weight, grad_out, in, p);
  }
  void max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& in, const Pool2dParams& p) override {
    DeviceGuard g(dev(out));
    max_pool2d_cuda(out, indices, in, p);
  }
  void max_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& indices) override {
    DeviceGuard g(dev(grad_in));
    max_pool2d_backward_cuda(grad_in, grad_out, indices);
  }
  void avg_pool2d(const Tensor& out, const Tensor& in, const Pool2dParams& p) override {
    DeviceGuard g(dev(out));
    avg_pool2d_cuda(out, in, p);
  }
  void avg_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out, const Pool2dParams& p) override {
    DeviceGuard g(dev(grad_in));
    avg_pool2d_backward_cuda(grad_in, grad_out, p);
  }
  void batch_norm_stats(const Tensor& mean, const Tensor& var, const Tensor& in) override {
    DeviceGuard g(dev(in));
    batch_norm_stats_cuda(mean, var, in);
  }
  void batch_norm_apply(const Tensor& out, const Tensor& in, const Tensor& scale, const Tensor& shift) override {
    DeviceGuard g(dev(in));
    batch_norm_apply_cuda(out, in, scale, shift);
  }
  void batch_norm_backward_reduce(const Tensor& sum_dy, const Tensor& sum_dy_xmu, const Tensor& grad_out,
                                  const Tensor& in, const Tensor& mean) override {
    DeviceGuard g(dev(in));
    batch_norm_backward_reduce_cuda(sum_dy, sum_dy_xmu, grad_out, in, mean);
  }
  void batch_norm_backward_apply(const Tensor& grad_in, const Tensor& grad_out, const Tensor& in,
                                 const Tensor& mean, const Tensor& dy_scale, const Tensor& xmu_scale,
                                 const Tensor& shift) override {
    DeviceGuard g(dev(in));
    batch_norm_backward_apply_cuda(grad_in, grad_out, in, mean, dy_scale, xmu_scale, shift);
  }

  // sorting and ordered scatter
  void sort(const Tensor& values, const Tensor& indices, const Tensor& in, bool descending) override {
    DeviceGuard g(dev(in));
    sort_cuda(values, indices, in, descending);
  }
  void topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, bool largest) override {
    DeviceGuard g(dev(in));
    topk_cuda(values, indices, in, k, largest);
  }
  void searchsorted(const Tensor& out, const Tensor& sorted, const Tensor& values, bool right) override {
    DeviceGuard g(dev(out));
    searchsorted_cuda(out, sorted, values, right);
  }
  void put_reduce(ReduceOp op, const Tensor& dst, const Tensor& offsets, const Tensor& values) override {
    DeviceGuard g(dev(dst));
    put_reduce_cuda(op, dst, offsets, values);
  }
};

// cudaGetDeviceCount's verdict, asked once: without a driver it fails, and
// the reason becomes the "no CUDA device" message.
struct Probe {
  int count = 0;
  std::string why;
};
const Probe& probe() {
  static Probe p = [] {
    Probe r;
    cudaError_t err = cudaGetDeviceCount(&r.count);
    if (err != cudaSuccess) {
      cudaGetLastError();
      r.count = 0;
      r.why = str(cudaGetErrorName(err), ": ", cudaGetErrorString(err));
    } else if (r.count == 0) {
      r.why = "the CUDA driver reports no devices";
    }
    return r;
  }();
  return p;
}

}  // namespace

void check_index(int device) {
  const int n = probe().count;
  EMBER_CHECK(n > 0, Error, "no CUDA device is available (", probe().why, ")");
  EMBER_CHECK(device >= 0 && device < n, Error, "invalid CUDA device index ", device, ": ", n,
              " device(s) are visible");
}
}  // namespace cuda

bool register_cuda_backend() {
  const cuda::Probe& p = cuda::probe();
  if (p.count <= 0) {
    set_missing_backend_message(
        DeviceType::CUDA, str("no CUDA device is available (", p.why,
                              "); ember was built with CUDA, so check the driver and CUDA_VISIBLE_DEVICES"));
    return false;
  }
  static cuda::CudaBackend backend;
  register_backend(DeviceType::CUDA, &backend);
  return true;
}

bool cuda_is_built() { return true; }
int cuda_device_count() { return cuda::probe().count; }
int cuda_current_device() {
  cuda::check_index(0);
  int d = 0;
  EMBER_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}
void cuda_set_device(int device) {
  cuda::check_index(device);
  EMBER_CUDA_CHECK(cudaSetDevice(device));
}
void cuda_synchronize(int device) {
  if (device < 0) device = cuda_current_device();
  cuda::check_index(device);
  cuda::DeviceGuard g(device);
  EMBER_CUDA_CHECK(cudaDeviceSynchronize());
}
size_t cuda_memory_allocated(int device) {
  if (cuda_device_count() == 0) return 0;
  return cuda::allocator_allocated(device);
}
size_t cuda_max_memory_allocated(int device) {
  if (cuda_device_count() == 0) return 0;
  return cuda::allocator_peak(device);
}
void cuda_empty_cache() {
  if (cuda_device_count() == 0) return;
  cuda::allocator_empty_cache();
}
const char* cuda_get_device_name(int device) {
  cuda::check_index(device);
  static std::string names[64];
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (names[device].empty()) {
    cudaDeviceProp prop;
    EMBER_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    names[device] = prop.name;
  }
  return names[device].c_str();
}

}  // namespace ember
