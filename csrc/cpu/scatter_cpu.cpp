// Ordered scatter of the CPU backend (put_reduce, behind scatter_add and
// scatter's reductions; for bool, sum is `or` and prod `and`): one pass in index order, so repeated offsets
// combine in the same order as on CUDA (which sorts by offset, stably) and
// the result is the same to the bit.
#include <cmath>

#include "dispatch.h"
#include "kernels.h"

namespace ember::cpu {

namespace {

template <typename T>
T combine(ReduceOp op, T acc, T v) {
  switch (op) {
    case ReduceOp::Sum: return T(acc + v);
    case ReduceOp::Prod: return T(acc * v);
    case ReduceOp::Max:
    case ReduceOp::Min:
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(acc)) return acc;
        if (std::isnan(v)) return v;
      }
      return op == ReduceOp::Max ? (v > acc ? v : acc) : (v < acc ? v : acc);
    default: return v;
  }
}

}  // namespace

void put_reduce(ReduceOp op, const Tensor& dst, const Tensor& offsets, const Tensor& values) {
  dispatch_dtype(dst->dtype, "scatter reduction", [&](auto tag) {
    using T = decltype(tag);
    T* base = dst->data<T>();
    const int64_t* off = offsets->data<int64_t>();
    const T* v = values->data<T>();
    const int64_t n = offsets->numel();
    for (int64_t i = 0; i < n; ++i) base[off[i]] = combine(op, base[off[i]], v[i]);
  });
}

}  // namespace ember::cpu
