// test_cuda_sort.cpp — sorting and ordered scatter on CUDA (sort and topk
// rows, stable, every dtype; searchsorted on both sides; put with a
// reduction, deterministic) against the CPU backend, on tie-heavy inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "csrc/backend.h"
#include "csrc/error.h"
#include "csrc/philox.h"
#include "csrc/tensor.h"
#include "cuda/cuda_api.h"
#include "tests/cpp/cuda_test_util.h"

using namespace ember;
using namespace ember::cuda_test;

namespace {

// Values with many ties (a small set), NaN, -0.0 and 0.0 among the floats.
Pair tie_heavy_pair(const Shape& shape, DType dt, std::mt19937& rng) {
  Pair p = random_pair(shape, dt, rng);
  for (int64_t i = 0; i < p.cpu->numel(); ++i) {
    const int pick = int(rng() % 7);
    double v = double(pick) - 3.0;
    if (is_floating(dt) && pick == 0) v = std::numeric_limits<double>::quiet_NaN();
    if (is_floating(dt) && pick == 1) v = -0.0;
    if (dt == DType::Bool) v = pick % 2;
    if (dt == DType::UInt8) v = pick;
    set(p.cpu, i, v);
  }
  upload(p);
  return p;
}

}  // namespace

TEST(CudaKernels, SortAndTopkRowsStableAllDtypes) {
  REQUIRE_GPU();
  std::mt19937 rng(21);
  for (DType d : {DType::Bool, DType::UInt8, DType::Int8, DType::Int16, DType::Int32, DType::Int64, DType::Float32,
                  DType::Float64}) {
    for (Shape shape : {Shape{1, 1}, Shape{1, 3000}, Shape{37, 129}, Shape{4000, 3}}) {
      for (bool descending : {false, true}) {
        Pair in = tie_heavy_pair(shape, d, rng);
        Pair values = empty_pair(shape, d), indices = empty_pair(shape, DType::Int64);
        backend(kCpu).sort(values.cpu, indices.cpu, in.cpu, descending);
        backend(kGpu).sort(values.gpu, indices.gpu, in.gpu, descending);
        std::string what = std::string("sort ") + dtype_name(d) + " " + shape_str(shape) + (descending ? " desc" : "");
        expect_close(indices, 0, what + " indices");  // stable: the very same permutation
        expect_close(values, 0, what + " values");
        const int64_t n = shape.back();
        if (n > 1) {
          const int64_t k = std::min<int64_t>(5, n - 1);
          const Shape kshape{shape[0], k};
          Pair top_v = empty_pair(kshape, d), top_i = empty_pair(kshape, DType::Int64);
          backend(kCpu).topk(top_v.cpu, top_i.cpu, in.cpu, k, descending);
          backend(kGpu).topk(top_v.gpu, top_i.gpu, in.gpu, k, descending);
          expect_close(top_i, 0, what + " topk indices");
          expect_close(top_v, 0, what + " topk values");
        }
      }
    }
  }
}

TEST(CudaKernels, SearchSortedBothSides) {
  REQUIRE_GPU();
  std::mt19937 rng(22);
  for (DType d : {DType::Int32, DType::Int64, DType::Float32, DType::Float64}) {
    Pair raw = tie_heavy_pair({6, 50}, d, rng);
    Pair sorted = empty_pair({6, 50}, d), order = empty_pair({6, 50}, DType::Int64);
    backend(kCpu).sort(sorted.cpu, order.cpu, raw.cpu, false);
    upload(sorted);
    Pair values = tie_heavy_pair({6, 33}, d, rng);
    for (bool right : {false, true}) {
      Pair out = empty_pair({6, 33}, DType::Int64);
      backend(kCpu).searchsorted(out.cpu, sorted.cpu, values.cpu, right);
      backend(kGpu).searchsorted(out.gpu, sorted.gpu, values.gpu, right);
      expect_close(out, 0, std::string("searchsorted ") + dtype_name(d) + (right ? " right" : " left"));
    }
  }
}

TEST(CudaKernels, PutReduceIsDeterministicAndMatchesCpu) {
  REQUIRE_GPU();
  std::mt19937 rng(23);
  for (DType d : {DType::Float32, DType::Float64, DType::Int32, DType::Int64, DType::Int8, DType::Bool}) {
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min}) {
      for (int64_t n : {int64_t(1), int64_t(777), int64_t(100000)}) {
        Pair dst = random_pair({40, 3}, d, rng);
        Pair offs = empty_pair({n}, DType::Int64);
        // Heavy repeats: a few hot offsets, the rest spread.
        for (int64_t i = 0; i < n; ++i) set(offs.cpu, i, double(rng() % 4 == 0 ? rng() % 3 : rng() % 120));
        upload(offs);
        Pair vals = random_pair({n}, d, rng);
        if (op == ReduceOp::Prod) {  // keep products finite: values near +-1
          for (int64_t i = 0; i < n; ++i) set(vals.cpu, i, is_floating(d) ? (rng() % 2 ? 1.0 : -1.0) * (1.0 + 1e-6 * double(rng() % 5)) : (rng() % 2 ? 1.0 : -1.0));
          upload(vals);
        }
        Tensor before = to_host(dst.gpu);
        backend(kCpu).put_reduce(op, dst.cpu, offs.cpu, vals.cpu);
        backend(kGpu).put_reduce(op, dst.gpu, offs.gpu, vals.gpu);
        std::string what = std::string("put_reduce op ") + std::to_string(int(op)) + " " + dtype_name(d) + " n " +
                           std::to_string(n);
        expect_close(dst, 0, what);  // the same order of operations: the same bits
        // A second run from the same start gives the same bits again.
        Pair again = empty_pair({40, 3}, d);
        backend(kGpu).copy_from_host(again.gpu->storage->data, before->storage->data, before->storage->nbytes, 0);
        backend(kGpu).put_reduce(op, again.gpu, offs.gpu, vals.gpu);
        expect_close({to_host(dst.gpu), again.gpu}, 0, what + " rerun");
      }
    }
  }
}
