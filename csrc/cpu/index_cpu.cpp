// Gather/scatter by element offsets (all of ember's indexing reduces to
// these) and nonzero. Offsets were validated by the op layer.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "../ops/ops.h"
#include "dispatch.h"
#include "kernels.h"
#include "loops.h"

namespace ember::cpu {

namespace {
template <typename F>
decltype(auto) dispatch_any(DType dtype, F&& fn) {
  // Indexing moves bytes, so 16-bit floats travel as uint16 words.
  if (dtype == DType::Float16 || dtype == DType::BFloat16) return fn(int16_t{});
  return dispatch_dtype(dtype, "indexing", fn);
}
}  // namespace

void take(const Tensor& out, const Tensor& src, const Tensor& offsets) {
  dispatch_any(src->dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* base = src->data<T>();
    for_each_run<2>({out.get(), offsets.get()}, [base](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<T*>(p[0] + i * s[0]) = base[*reinterpret_cast<const int64_t*>(p[1] + i * s[1])];
    });
  });
}

void take_rows(const Tensor& out, const Tensor& src, const Tensor& rows) {
  const size_t esize = itemsize(src->dtype);
  const int64_t n = out->shape[0], width = out->shape[1];
  const size_t row_bytes = static_cast<size_t>(width) * esize;
  const size_t src_stride = static_cast<size_t>(src->strides[0]) * esize;
  const char* base = src->data_bytes();
  char* dst = out->data_bytes();
  const int64_t* r = rows->data<int64_t>();  // contiguous 1-D (op layer)
  // One memcpy per row; rows are independent, so threads split them once
  // the copy is large enough to pay for waking one.
  int64_t grain = std::max<int64_t>(1, kMemoryBoundGrain / std::max<int64_t>(width, 1));
  parallel_for(n, grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) std::memcpy(dst + i * row_bytes, base + r[i] * src_stride, row_bytes);
  });
}

namespace {
// put with accumulate on 16-bit floats: each sum in float32, rounded back
// (moving them as int16 words, as plain put does, would add bit patterns).
template <typename Word>
void put_accumulate_16bit(const Tensor& dst, const Tensor& offsets, const Tensor& values, float (*to_float)(uint16_t),
                          uint16_t (*from_float)(float)) {
  uint16_t* base = reinterpret_cast<uint16_t*>(dst->data_bytes());
  for_each_run<2>(
      make_layout<2>({offsets.get(), values.get()}),
      [&](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
        for (int64_t i = 0; i < n; ++i) {
          uint16_t& target = base[*reinterpret_cast<const int64_t*>(p[0] + i * s[0])];
          float v = to_float(reinterpret_cast<const Word*>(p[1] + i * s[1])->bits);
          target = from_float(to_float(target) + v);
        }
      },
      /*parallel=*/false);
}
}  // namespace

void put(const Tensor& dst, const Tensor& offsets, const Tensor& values, bool accumulate) {
  if (accumulate && dst->dtype == DType::Float16)
    return put_accumulate_16bit<Half>(dst, offsets, values, half_to_float, float_to_half);
  if (accumulate && dst->dtype == DType::BFloat16)
    return put_accumulate_16bit<BFloat16>(dst, offsets, values, bf16_to_float, float_to_bf16);
  dispatch_any(dst->dtype, [&](auto tag) {
    using T = decltype(tag);
    T* base = dst->data<T>();
    // Serial: repeated offsets must apply in order (last write wins, or all add).
    StridedLayout<2> L = make_layout<2>({offsets.get(), values.get()});
    for_each_run<2>(
        L,
        [base, accumulate](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
          for (int64_t i = 0; i < n; ++i) {
            T& target = base[*reinterpret_cast<const int64_t*>(p[0] + i * s[0])];
            T v = *reinterpret_cast<const T*>(p[1] + i * s[1]);
            if constexpr (std::is_same_v<T, bool>) {
              target = accumulate ? (target || v) : v;
            } else {
              target = accumulate ? T(target + v) : v;
            }
          }
        },
        /*parallel=*/false);
  });
}

Tensor nonzero(const Tensor& in) {
  Tensor c = contiguous(in);
  int64_t n = c->numel(), nd = c->ndim();
  std::vector<int64_t> hits;
  dispatch_any(c->dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = c->data<T>();
    for (int64_t i = 0; i < n; ++i)
      if (x[i] != T(0)) hits.push_back(i);
  });
  Tensor out = make_empty({static_cast<int64_t>(hits.size()), nd}, DType::Int64, Device{});
  int64_t* o = out->data<int64_t>();
  for (size_t h = 0; h < hits.size(); ++h) {
    int64_t rem = hits[h];
    for (int64_t d = nd - 1; d >= 0; --d) {
      o[h * nd + d] = rem % c->shape[d];
      rem /= c->shape[d];
    }
  }
  return out;
}

}  // namespace ember::cpu
