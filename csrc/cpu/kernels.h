// The CPU kernels behind the CPU backend, one family per file.
#pragma once
#include "../backend.h"

namespace ember::cpu {

// elementwise_cpu.cpp / copy_cpu.cpp
void copy(const Tensor& dst, const Tensor& src);
void fill(const Tensor& dst, const Scalar& value);
void unary(UnaryOp op, const Tensor& out, const Tensor& in);
void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b);
void clamp(const Tensor& out, const Tensor& in, bool has_lo, double lo, bool has_hi, double hi);
void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);
// reduce_cpu.cpp
void reduce(ReduceOp op, const Tensor& out, const Tensor& in);
void arg_reduce(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& in);
void cumsum(const Tensor& out, const Tensor& in, int64_t dim);
// matmul_cpu.cpp
void matmul(const Tensor& out, const Tensor& a, const Tensor& b, bool accumulate);
// index_cpu.cpp
void take(const Tensor& out, const Tensor& src, const Tensor& offsets);
void take_rows(const Tensor& out, const Tensor& src, const Tensor& rows);
void put(const Tensor& dst, const Tensor& offsets, const Tensor& values, bool accumulate);
Tensor nonzero(const Tensor& in);
// random_cpu.cpp
void uniform(const Tensor& out, double lo, double hi, uint64_t seed, uint64_t offset);
void normal(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset);
// softmax_cpu.cpp
void softmax(const Tensor& out, const Tensor& in, bool log);
void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log);
// conv_cpu.cpp
void conv2d(const Tensor& out, const Tensor& in, const Tensor& weight, const Tensor& bias, const Conv2dParams& p);
void conv2d_backward_input(const Tensor& grad_in, const Tensor& grad_out, const Tensor& weight, const Conv2dParams& p);
void conv2d_backward_weight(const Tensor& grad_weight, const Tensor& grad_out, const Tensor& in, const Conv2dParams& p);
// pool_cpu.cpp
void max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& in, const Pool2dParams& p);
void max_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& indices);
void avg_pool2d(const Tensor& out, const Tensor& in, const Pool2dParams& p);
void avg_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out, const Pool2dParams& p);
// norm_cpu.cpp
void batch_norm_stats(const Tensor& mean, const Tensor& var, const Tensor& in);
void batch_norm_apply(const Tensor& out, const Tensor& in, const Tensor& scale, const Tensor& shift);
void batch_norm_backward_reduce(const Tensor& sum_dy, const Tensor& sum_dy_xmu, const Tensor& grad_out,
                                const Tensor& in, const Tensor& mean);
void batch_norm_backward_apply(const Tensor& grad_in, const Tensor& grad_out, const Tensor& in, const Tensor& mean,
                               const Tensor& dy_scale, const Tensor& xmu_scale, const Tensor& shift);
// sort_cpu.cpp, scatter_cpu.cpp: sorting and ordered scatter
void sort(const Tensor& values, const Tensor& indices, const Tensor& in, bool descending);
void topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, bool largest);
void searchsorted(const Tensor& out, const Tensor& sorted, const Tensor& values, bool right);
void put_reduce(ReduceOp op, const Tensor& dst, const Tensor& offsets, const Tensor& values);

}  // namespace ember::cpu
