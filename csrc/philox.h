// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
// 3", SC'11): a counter-based generator, so any element can be computed
// independently and the CPU and CUDA backends produce the same stream.
//
// ember's convention (shared by every backend):
//   element i of a tensor filled with (seed, offset) uses the 4-word block
//   philox(counter = offset + i/4, key = seed), word i % 4.
// The caller advances its offset by ceil(numel / 4) per tensor.
//
// Plain C++ (no CUDA headers): include it from CPU code too.
#pragma once
#include <cmath>
#include <cstdint>

#include "hd.h"

namespace ember {
namespace philox {

struct Block {
  uint32_t w[4];
};

EMBER_HD uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

// One of the ten rounds: two 32x32->64 multiplies and a key mix.
EMBER_HD void round(uint32_t c[4], uint32_t k0, uint32_t k1) {
  uint32_t hi0, hi1;
  uint32_t lo0 = mulhilo(0xD2511F53u, c[0], &hi0);
  uint32_t lo1 = mulhilo(0xCD9E8D57u, c[2], &hi1);
  uint32_t n0 = hi1 ^ c[1] ^ k0;
  uint32_t n2 = hi0 ^ c[3] ^ k1;
  c[0] = n0;
  c[1] = lo1;
  c[2] = n2;
  c[3] = lo0;
}

// The full 4x32 block cipher for a 128-bit counter and a 64-bit key.
EMBER_HD Block philox4x32_10(const uint32_t ctr[4], uint32_t k0, uint32_t k1) {
  uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
  for (int r = 0; r < 10; ++r) {
    round(c, k0, k1);
    k0 += 0x9E3779B9u;  // Weyl key schedule
    k1 += 0xBB67AE85u;
  }
  return Block{{c[0], c[1], c[2], c[3]}};
}

// The block for a 64-bit counter value (high 64 counter bits zero).
EMBER_HD Block block(uint64_t seed, uint64_t counter) {
  uint32_t ctr[4] = {static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32), 0u, 0u};
  return philox4x32_10(ctr, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// Uniform in [0, 1) from one word. 24 bits for float (every value exactly
// representable, never 1.0f); 32 bits for double.
EMBER_HD float to_uniform_float(uint32_t w) { return static_cast<float>(w >> 8) * (1.0f / 16777216.0f); }
EMBER_HD double to_uniform_double(uint32_t w) { return static_cast<double>(w) * (1.0 / 4294967296.0); }

// Standard normals by Box-Muller on word pairs (0,1) and (2,3): element with
// word index j gets the cosine branch when j is even, the sine branch when
// odd. Computed in double on every device so that float results agree
// across backends (double libm results differ by at most an ulp or so, far
// below float resolution).
EMBER_HD double to_normal(const Block& b, int j) {
  const int p = j & ~1;
  // (w + 1) / 2^32 lies in (0, 1], so log never sees 0.
  double u1 = (static_cast<double>(b.w[p]) + 1.0) * (1.0 / 4294967296.0);
  double u2 = static_cast<double>(b.w[p + 1]) * (1.0 / 4294967296.0);
  double r = sqrt(-2.0 * log(u1));
  double theta = 6.283185307179586476925286766559 * u2;
  return (j & 1) ? r * sin(theta) : r * cos(theta);
}

// Convenience for references and tests: the word of element i.
EMBER_HD uint32_t word(uint64_t seed, uint64_t offset, uint64_t i) {
  return block(seed, offset + i / 4).w[i % 4];
}
EMBER_HD double normal(uint64_t seed, uint64_t offset, uint64_t i) {
  return to_normal(block(seed, offset + i / 4), static_cast<int>(i % 4));
}

}  // namespace philox
}  // namespace ember
