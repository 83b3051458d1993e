// Streaming (non-temporal) stores for outputs too large to stay in cache.
//
// A plain store first reads the destination line into the cache (a read for
// ownership), so writing N bytes costs 2N of memory traffic; a streaming
// store sends the line straight to memory. For an output far larger than the
// last-level cache that read is pure waste: relu over 4M float32 moves 48 MB
// instead of 32 MB. Measured on the 2-core EPYC of bench/RESULTS.md (8 MiB
// L3): 2M-element relu 1075 -> 431 us, 4M 2540 -> 1820 us; but a 1M-element
// output (4 MiB, fits in L3 beside its input) got slower, 142 -> 202 us,
// because the next pass no longer finds it in cache. Hence the threshold on
// the whole output's size, kStreamingBytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ember::cpu {

// Outputs at least this large are written with streaming stores. (The L3
// size reported by sysconf inside a VM is often the host's, so this is a
// measured constant, not a query.)
constexpr int64_t kStreamingBytes = int64_t(8) << 20;

inline bool use_streaming_stores(int64_t output_bytes) { return output_bytes >= kStreamingBytes; }

// o[i] = value(i) for i in [0, n), with streaming stores for the bulk.
// value(i) must be cheap and side-effect free; it is evaluated into a small
// aligned block (256 bytes: four cache lines, which the compiler vectorizes
// and keeps in L1), and the block is then streamed out. Smaller blocks were
// measured to be 10x slower: a write-combining buffer must be filled whole.
template <typename Out, typename Value>
inline void stream_run(Out* o, int64_t n, Value&& value) {
#if defined(__SSE2__)
  constexpr int64_t kBlockBytes = 256;
  constexpr int64_t kBlock = kBlockBytes / static_cast<int64_t>(sizeof(Out));
  static_assert(kBlockBytes % sizeof(Out) == 0, "element size must divide the block");
  int64_t i = 0;
  // Plain stores up to the first 64-byte boundary.
  while (i < n && (reinterpret_cast<uintptr_t>(o + i) & 63) != 0) {
    o[i] = value(i);
    ++i;
  }
  if (reinterpret_cast<uintptr_t>(o + i) % sizeof(Out) == 0) {
    alignas(64) Out block[kBlock];
    for (; i + kBlock <= n; i += kBlock) {
      for (int64_t j = 0; j < kBlock; ++j) block[j] = value(i + j);
      char* dst = reinterpret_cast<char*>(o + i);
      const char* src = reinterpret_cast<const char*>(block);
      for (int64_t b = 0; b < kBlockBytes; b += 16)
        _mm_stream_si128(reinterpret_cast<__m128i*>(dst + b),
                         _mm_load_si128(reinterpret_cast<const __m128i*>(src + b)));
    }
  }
  for (; i < n; ++i) o[i] = value(i);
  // Streaming stores are weakly ordered: fence before another thread (or
  // the caller, after the parallel region) reads the output.
  _mm_sfence();
#else
  for (int64_t i = 0; i < n; ++i) o[i] = value(i);
#endif
}

}  // namespace ember::cpu
