// Copies with dtype conversion (every pair of the ten dtypes) and fills.
#include <cstring>
#include <type_traits>

#include "../error.h"
#include "dispatch.h"
#include "kernels.h"
#include "loops.h"
#include "streaming.h"

namespace ember::cpu {

namespace {

// Conversion through float for the 16-bit storage types.
template <typename To, typename From>
inline To convert(From v) {
  if constexpr (std::is_same_v<From, Half>) {
    return convert<To>(half_to_float(v.bits));
  } else if constexpr (std::is_same_v<From, BFloat16>) {
    return convert<To>(bf16_to_float(v.bits));
  } else if constexpr (std::is_same_v<To, Half>) {
    return Half{float_to_half(static_cast<float>(v))};
  } else if constexpr (std::is_same_v<To, BFloat16>) {
    return BFloat16{float_to_bf16(static_cast<float>(v))};
  } else if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else {
    return static_cast<To>(v);
  }
}

template <typename F>
decltype(auto) dispatch_storage(DType dtype, F&& fn) {
  switch (dtype) {
    case DType::Float16: return fn(Half{});
    case DType::BFloat16: return fn(BFloat16{});
    default: return dispatch_dtype(dtype, "copy", fn);
  }
}

template <typename To, typename From>
void copy_typed(const Tensor& dst, const Tensor& src) {
  const bool stream = use_streaming_stores(dst->numel() * int64_t(sizeof(To)));
  for_each_run<2>({dst.get(), src.get()}, [stream](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
    if (s[0] == sizeof(To) && s[1] == sizeof(From)) {
      To* o = reinterpret_cast<To*>(p[0]);
      const From* x = reinterpret_cast<const From*>(p[1]);
      if (stream) return stream_run(o, n, [x](int64_t i) { return convert<To>(x[i]); });
      if constexpr (std::is_same_v<To, From>) {
        std::memcpy(p[0], p[1], static_cast<size_t>(n) * sizeof(To));
        return;
      }
      for (int64_t i = 0; i < n; ++i) o[i] = convert<To>(x[i]);
      return;
    }
    char* o = p[0];
    const char* x = p[1];
    for (int64_t i = 0; i < n; ++i, o += s[0], x += s[1])
      *reinterpret_cast<To*>(o) = convert<To>(*reinterpret_cast<const From*>(x));
  }, kMemoryBoundGrain);
}

}  // namespace

void copy(const Tensor& dst, const Tensor& src) {
  dispatch_storage(dst->dtype, [&](auto to) {
    dispatch_storage(src->dtype, [&](auto from) { copy_typed<decltype(to), decltype(from)>(dst, src); });
  });
}

void fill(const Tensor& dst, const Scalar& value) {
  dispatch_storage(dst->dtype, [&](auto tag) {
    using T = decltype(tag);
    T v = value.is_floating() ? convert<T>(value.f) : convert<T>(value.i);
    const bool stream = use_streaming_stores(dst->numel() * int64_t(sizeof(T)));
    for_each_run<1>({dst.get()}, [v, stream](std::array<char*, 1> p, std::array<int64_t, 1> s, int64_t n) {
      if (s[0] == sizeof(T)) {
        T* o = reinterpret_cast<T*>(p[0]);
        if (stream) return stream_run(o, n, [v](int64_t) { return v; });
        for (int64_t i = 0; i < n; ++i) o[i] = v;
      } else {
        for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(p[0] + i * s[0]) = v;
      }
    }, kMemoryBoundGrain);
  });
}

}  // namespace ember::cpu
