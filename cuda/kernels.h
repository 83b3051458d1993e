// Host-side launchers of the CUDA kernels, one group per .cu file. Each takes
// tensors already on the current device (register.cu's backend sets it) and
// follows the contract of the matching Backend primitive in csrc/backend.h.
#pragma once
#include <cstdint>

#include "csrc/backend.h"

namespace ember {
namespace cuda {

// copy_fill.cu
void copy_cuda(const Tensor& dst, const Tensor& src);
void fill_cuda(const Tensor& dst, const Scalar& value);
// unary.cu
void unary_cuda(UnaryOp op, const Tensor& out, const Tensor& in);
void clamp_cuda(const Tensor& out, const Tensor& in, bool has_lo, double lo, bool has_hi, double hi);
// binary.cu
void binary_cuda(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b);
void where_cuda(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);
// reduce.cu
void reduce_cuda(ReduceOp op, const Tensor& out, const Tensor& in);
void arg_reduce_cuda(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& in);
void cumsum_cuda(const Tensor& out, const Tensor& in, int64_t dim);
// matmul.cu
void matmul_cuda(const Tensor& out, const Tensor& a, const Tensor& b, bool accumulate);
// index.cu
void take_cuda(const Tensor& out, const Tensor& src, const Tensor& offsets);
void take_rows_cuda(const Tensor& out, const Tensor& src, const Tensor& rows);
void put_cuda(const Tensor& dst, const Tensor& offsets, const Tensor& values, bool accumulate);
Tensor nonzero_cuda(const Tensor& in);
// random.cu
void uniform_cuda(const Tensor& out, double lo, double hi, uint64_t seed, uint64_t offset);
void normal_cuda(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset);
// softmax.cu
void softmax_cuda(const Tensor& out, const Tensor& in, bool log);
void softmax_backward_cuda(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log);
// conv.cu
void conv2d_cuda(const Tensor& out, const Tensor& in, const Tensor& weight, const Tensor& bias,
                 const Conv2dParams& p);
void conv2d_backward_input_cuda(const Tensor& grad_in, const Tensor& grad_out, const Tensor& weight,
                                const Conv2dParams& p);
void conv2d_backward_weight_cuda(const Tensor& grad_weight, const Tensor& grad_out, const Tensor& in,
                                 const Conv2dParams& p);
// pool.cu
void max_pool2d_cuda(const Tensor& out, const Tensor& indices, const Tensor& in, const Pool2dParams& p);
void max_pool2d_backward_cuda(const Tensor& grad_in, const Tensor& grad_out, const Tensor& indices);
void avg_pool2d_cuda(const Tensor& out, const Tensor& in, const Pool2dParams& p);
void avg_pool2d_backward_cuda(const Tensor& grad_in, const Tensor& grad_out, const Pool2dParams& p);
// norm.cu
void batch_norm_stats_cuda(const Tensor& mean, const Tensor& var, const Tensor& in);
void batch_norm_apply_cuda(const Tensor& out, const Tensor& in, const Tensor& scale, const Tensor& shift);
void batch_norm_backward_reduce_cuda(const Tensor& sum_dy, const Tensor& sum_dy_xmu, const Tensor& grad_out,
                                     const Tensor& in, const Tensor& mean);
void batch_norm_backward_apply_cuda(const Tensor& grad_in, const Tensor& grad_out, const Tensor& in,
                                    const Tensor& mean, const Tensor& dy_scale, const Tensor& xmu_scale,
                                    const Tensor& shift);
// sort.cu, scatter.cu: sorting and ordered scatter
void sort_cuda(const Tensor& values, const Tensor& indices, const Tensor& in, bool descending);
void topk_cuda(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, bool largest);
void searchsorted_cuda(const Tensor& out, const Tensor& sorted, const Tensor& values, bool right);
void put_reduce_cuda(ReduceOp op, const Tensor& dst, const Tensor& offsets, const Tensor& values);

}  // namespace cuda
}  // namespace ember
