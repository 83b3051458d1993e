// The CPU entry of the dispatch table: allocation (allocator_cpu.cpp) and the kernels.
#include <cstdlib>
#include <cstring>

#include "../error.h"
#include "allocator_cpu.h"
#include "kernels.h"

namespace ember {

namespace {

struct CpuBackend final : Backend {
  const char* name() const override { return "cpu"; }

  void* allocate(size_t nbytes, int) override { return cpu::allocate(nbytes); }
  void deallocate(void* ptr, size_t nbytes, int) override { cpu::deallocate(ptr, nbytes); }
  void copy_from_host(void* dst, const void* src, size_t n, int) override { std::memcpy(dst, src, n); }
  void copy_to_host(void* dst, const void* src, size_t n, int) override { std::memcpy(dst, src, n); }
  void synchronize(int) override {}

  void copy(const Tensor& d, const Tensor& s) override { cpu::copy(d, s); }
  void fill(const Tensor& d, const Scalar& v) override { cpu::fill(d, v); }
  void unary(UnaryOp op, const Tensor& o, const Tensor& i) override { cpu::unary(op, o, i); }
  void binary(BinaryOp op, const Tensor& o, const Tensor& a, const Tensor& b) override { cpu::binary(op, o, a, b); }
  void clamp(const Tensor& o, const Tensor& i, bool hl, double lo, bool hh, double hi) override {
    cpu::clamp(o, i, hl, lo, hh, hi);
  }
  void where(const Tensor& o, const Tensor& c, const Tensor& a, const Tensor& b) override { cpu::where(o, c, a, b); }
  void reduce(ReduceOp op, const Tensor& o, const Tensor& i) override { cpu::reduce(op, o, i); }
  void arg_reduce(bool is_max, const Tensor& v, const Tensor& idx, const Tensor& i) override {
    cpu::arg_reduce(is_max, v, idx, i);
  }
  void cumsum(const Tensor& o, const Tensor& i, int64_t dim) override { cpu::cumsum(o, i, dim); }
  void matmul(const Tensor& o, const Tensor& a, const Tensor& b, bool acc) override { cpu::matmul(o, a, b, acc); }
  void take(const Tensor& o, const Tensor& s, const Tensor& off) override { cpu::take(o, s, off); }
  void take_rows(const Tensor& o, const Tensor& s, const Tensor& rows) override { cpu::take_rows(o, s, rows); }
  void put(const Tensor& d, const Tensor& off, const Tensor& v, bool acc) override { cpu::put(d, off, v, acc); }
  Tensor nonzero(const Tensor& i) override { return cpu::nonzero(i); }
  void uniform(const Tensor& o, double lo, double hi, uint64_t seed, uint64_t off) override {
    cpu::uniform(o, lo, hi, seed, off);
  }
  void normal(const Tensor& o, double m, double s, uint64_t seed, uint64_t off) override {
    cpu::normal(o, m, s, seed, off);
  }
  void softmax(const Tensor& o, const Tensor& i, bool log) override { cpu::softmax(o, i, log); }
  void softmax_backward(const Tensor& gi, const Tensor& go, const Tensor& o, bool log) override {
    cpu::softmax_backward(gi, go, o, log);
  }
  void conv2d(const Tensor& o, const Tensor& i, const Tensor& w, const Tensor& b, const Conv2dParams& p) override {
    cpu::conv2d(o, i, w, b, p);
  }
  void conv2d_backward_input(const Tensor& gi, const Tensor& go, const Tensor& w, const Conv2dParams& p) override {
    cpu::conv2d_backward_input(gi, go, w, p);
  }
  void conv2d_backward_weight(const Tensor& gw, const Tensor& go, const Tensor& i, const Conv2dParams& p) override {
    cpu::conv2d_backward_weight(gw, go, i, p);
  }
  void max_pool2d(const Tensor& o, const Tensor& idx, const Tensor& i, const Pool2dParams& p) override {
    cpu::max_pool2d(o, idx, i, p);
  }
  void max_pool2d_backward(const Tensor& gi, const Tensor& go, const Tensor& idx) override {
    cpu::max_pool2d_backward(gi, go, idx);
  }
  void avg_pool2d(const Tensor& o, const Tensor& i, const Pool2dParams& p) override { cpu::avg_pool2d(o, i, p); }
  void avg_pool2d_backward(const Tensor& gi, const Tensor& go, const Pool2dParams& p) override {
    cpu::avg_pool2d_backward(gi, go, p);
  }
  void batch_norm_stats(const Tensor& mean, const Tensor& var, const Tensor& in) override {
    cpu::batch_norm_stats(mean, var, in);
  }
  void batch_norm_apply(const Tensor& o, const Tensor& in, const Tensor& scale, const Tensor& shift) override {
    cpu::batch_norm_apply(o, in, scale, shift);
  }
  void batch_norm_backward_reduce(const Tensor& sum_dy, const Tensor& sum_dy_xmu, const Tensor& go, const Tensor& in,
                                  const Tensor& mean) override {
    cpu::batch_norm_backward_reduce(sum_dy, sum_dy_xmu, go, in, mean);
  }
  void batch_norm_backward_apply(const Tensor& gi, const Tensor& go, const Tensor& in, const Tensor& mean,
                                 const Tensor& dy_scale, const Tensor& xmu_scale, const Tensor& shift) override {
    cpu::batch_norm_backward_apply(gi, go, in, mean, dy_scale, xmu_scale, shift);
  }

  // sorting and ordered scatter
  void sort(const Tensor& v, const Tensor& idx, const Tensor& i, bool desc) override { cpu::sort(v, idx, i, desc); }
  void topk(const Tensor& v, const Tensor& idx, const Tensor& i, int64_t k, bool largest) override {
    cpu::topk(v, idx, i, k, largest);
  }
  void searchsorted(const Tensor& o, const Tensor& s, const Tensor& v, bool right) override {
    cpu::searchsorted(o, s, v, right);
  }
  void put_reduce(ReduceOp op, const Tensor& d, const Tensor& off, const Tensor& v) override {
    cpu::put_reduce(op, d, off, v);
  }
};

}  // namespace

Backend* make_cpu_backend() {
  static CpuBackend instance;
  return &instance;
}

}  // namespace ember
