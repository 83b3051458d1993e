// test_conv_pool_math.cpp — the index arithmetic of the CUDA convolution and
// pooling kernels (cuda/conv_math.h, cuda/pool_math.h), checked on the host
// against naive loops written here. No GPU needed: the kernels call exactly
// these functions, so a wrong gather, window or split shows up in this file.
//
// The convolution tests run each pass as the kernels do — a GEMM whose
// operands are gathered through the same functions, with the weight
// gradient's reduction cut into the same splits and combined in order — and
// compare with a direct convolution. Integer-valued data keeps every sum
// exact in double, so results must match bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "cuda/conv_math.h"
#include "cuda/pool_math.h"

using namespace ember::cuda;

namespace {

// ---------------- FastDivmod ----------------

TEST(ConvMath, FastDivmodMatchesDivision) {
  std::mt19937 rng(1);
  std::vector<uint32_t> divisors;
  for (uint32_t d = 1; d <= 3000; ++d) divisors.push_back(d);
  for (int i = 0; i < 2000; ++i) divisors.push_back(1 + rng() % 0x7fffffffu);
  for (uint32_t e = 0; e < 31; ++e) {
    divisors.push_back(1u << e);
    divisors.push_back((1u << e) + 1);
    if (e > 1) divisors.push_back((1u << e) - 1);
  }
  divisors.push_back(0x7fffffffu);
  for (uint32_t d : divisors) {
    FastDivmod f(d);
    std::vector<uint32_t> ns = {0, 1, d - 1, d, d + 1, 2 * d - 1, 0x7fffffffu, 0x7ffffffeu};
    for (int i = 0; i < 40; ++i) ns.push_back(rng() % 0x80000000u);
    for (uint32_t q : {1u, 7u, 1000u}) {
      const uint64_t m = uint64_t(d) * q;
      if (m < 0x80000000u) {
        ns.push_back(uint32_t(m));
        ns.push_back(uint32_t(m - 1));
      }
    }
    for (uint32_t n : ns) {
      if (n >= 0x80000000u) continue;  // the documented range
      uint32_t r = 0;
      const uint32_t q = f.divmod(n, &r);
      ASSERT_EQ(q, n / d) << n << " / " << d;
      ASSERT_EQ(r, n % d) << n << " % " << d;
      ASSERT_EQ(f.div(n), n / d);
    }
  }
}

// ---------------- convolution geometry ----------------

TEST(ConvMath, OutSizeAndSourceMatchBruteForce) {
  for (int64_t in = 1; in <= 12; ++in)
    for (int64_t k = 1; k <= 5; ++k)
      for (int64_t s = 1; s <= 3; ++s)
        for (int64_t p = 0; p <= 3; ++p)
          for (int64_t d = 1; d <= 3; ++d) {
            const int64_t out = conv_out_size(in, k, s, p, d);
            if (in + 2 * p < d * (k - 1) + 1) {  // the dilated kernel is larger than the padded input
              ASSERT_LT(out, 1);
              continue;
            }
            int64_t brute = 0;  // windows whose last tap stays inside the padded input
            for (int64_t o = 0; o < 100; ++o)
              if (o * s - p + (k - 1) * d <= in - 1 + p) brute = o + 1;
            ASSERT_EQ(out, brute) << in << " " << k << " " << s << " " << p << " " << d;
            for (int64_t pos = 0; pos < in; ++pos)
              for (int64_t t = 0; t < k; ++t) {
                int64_t want = -1;
                for (int64_t o = 0; o < out; ++o)
                  if (o * s - p + t * d == pos) want = o;
                ASSERT_EQ(conv_source_out(pos, t, s, p, d, out), want);
              }
          }
}

TEST(ConvMath, WeightGradSplitPartitionsTheReduction) {
  for (int64_t K : {0, 1, 7, 8, 9, 511, 512, 513, 4096, 25088, 100000, 1 << 20, 200704, 2147000000}) {
    for (int64_t tiles : {1, 3, 9, 64, 1000, 1024, 5000}) {
      const ReductionSplit r = weight_grad_split(K, tiles, 8);
      ASSERT_GE(r.splits, 1);
      ASSERT_EQ(r.chunk % 8, 0);
      ASSERT_GT(r.chunk, 0);
      if (K == 0) {
        EXPECT_EQ(r.splits, 1);
        continue;
      }
      // consecutive ranges [i * chunk, min(K, (i + 1) * chunk)), none empty, covering K
      EXPECT_LT((r.splits - 1) * r.chunk, K);
      EXPECT_GE(r.splits * r.chunk, K);
      EXPECT_LE(r.splits, (K + kSplitMinChunk - 1) / kSplitMinChunk);
      if (tiles >= kSplitTargetBlocks) EXPECT_EQ(r.splits, 1);
      // the same sizes always give the same split
      const ReductionSplit again = weight_grad_split(K, tiles, 8);
      EXPECT_EQ(again.splits, r.splits);
      EXPECT_EQ(again.chunk, r.chunk);
    }
  }
  // The 3x3 64->64 layer on 8x64x56x56: 9 tiles of 64x64 -> many splits.
  const ReductionSplit big = weight_grad_split(8 * 56 * 56, 9, 8);
  EXPECT_GT(big.splits, 16);
}

TEST(ConvMath, ImagesPerLaunchStayInThe32BitRange) {
  EXPECT_EQ(images_per_launch(256, 784), 256);
  EXPECT_EQ(images_per_launch(0, 784), 0);
  const int64_t n = images_per_launch(100000, 224 * 224);
  EXPECT_GE(n, 1);
  EXPECT_LE(n * 224 * 224, kMaxPixelsPerLaunch);
  EXPECT_GT((n + 1) * 224 * 224, kMaxPixelsPerLaunch);
  EXPECT_EQ(images_per_launch(5, int64_t(1) << 30), 1);
}

// ---------------- the three passes as gathered GEMMs ----------------

struct Case {
  int N, Ci, H, W, Co, kh, kw, sh, sw, ph, pw, dh, dw, groups;
};

int64_t out_size(int in, int k, int s, int p, int d) { return conv_out_size(in, k, s, p, d); }

// Direct convolution and its gradients, in double.
struct Naive {
  const Case& c;
  int Ho, Wo, Cig, Cog;
  explicit Naive(const Case& cs)
      : c(cs),
        Ho(int(out_size(cs.H, cs.kh, cs.sh, cs.ph, cs.dh))),
        Wo(int(out_size(cs.W, cs.kw, cs.sw, cs.pw, cs.dw))),
        Cig(cs.Ci / cs.groups),
        Cog(cs.Co / cs.groups) {}
  template <class F>
  void each(F&& f) const {  // f(x index, w index, y index)
    for (int n = 0; n < c.N; ++n)
      for (int co = 0; co < c.Co; ++co) {
        const int g = co / Cog;
        for (int oh = 0; oh < Ho; ++oh)
          for (int ow = 0; ow < Wo; ++ow)
            for (int ci = 0; ci < Cig; ++ci)
              for (int a = 0; a < c.kh; ++a)
                for (int b = 0; b < c.kw; ++b) {
                  const int ih = oh * c.sh - c.ph + a * c.dh, iw = ow * c.sw - c.pw + b * c.dw;
                  if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
                  const int64_t xi = ((int64_t(n) * c.Ci + g * Cig + ci) * c.H + ih) * c.W + iw;
                  const int64_t wi = ((int64_t(co) * Cig + ci) * c.kh + a) * c.kw + b;
                  const int64_t yi = ((int64_t(n) * c.Co + co) * Ho + oh) * Wo + ow;
                  f(xi, wi, yi);
                }
      }
  }
};

std::vector<double> ints(size_t n, std::mt19937& rng) {
  std::vector<double> v(n);
  for (double& x : v) x = double(int(rng() % 7) - 3);
  return v;
}

ConvShape shape_of(const Case& c, const Naive& nv) {
  return make_conv_shape(c.N, c.Ci, c.H, c.W, c.Co, c.kh, c.kw, nv.Ho, nv.Wo, c.sh, c.sw, c.ph, c.pw, c.dh, c.dw,
                         c.groups);
}

void check_case(const Case& c, std::mt19937& rng) {
  const Naive nv(c);
  ASSERT_GE(nv.Ho, 1);
  ASSERT_GE(nv.Wo, 1);
  const std::vector<double> x = ints(size_t(c.N) * c.Ci * c.H * c.W, rng);
  const std::vector<double> w = ints(size_t(c.Co) * nv.Cig * c.kh * c.kw, rng);
  const std::vector<double> gy = ints(size_t(c.N) * c.Co * nv.Ho * nv.Wo, rng);
  const std::vector<double> bias = ints(size_t(c.Co), rng);
  std::vector<double> y_ref(gy.size()), gx_ref(x.size(), 0.0), gw_ref(w.size(), 0.0);
  for (int64_t i = 0; i < int64_t(y_ref.size()); ++i) y_ref[i] = bias[(i / (nv.Ho * nv.Wo)) % c.Co];
  nv.each([&](int64_t xi, int64_t wi, int64_t yi) {
    y_ref[yi] += w[wi] * x[xi];
    gx_ref[xi] += w[wi] * gy[yi];
    gw_ref[wi] += gy[yi] * x[xi];
  });
  const int khw = c.kh * c.kw;
  const std::string what = "N" + std::to_string(c.N) + " Ci" + std::to_string(c.Ci) + " " + std::to_string(c.H) +
                           "x" + std::to_string(c.W) + " Co" + std::to_string(c.Co) + " k" + std::to_string(c.kh) +
                           "x" + std::to_string(c.kw) + " s" + std::to_string(c.sh) + "," + std::to_string(c.sw) +
                           " p" + std::to_string(c.ph) + "," + std::to_string(c.pw) + " d" + std::to_string(c.dh) +
                           "," + std::to_string(c.dw) + " g" + std::to_string(c.groups);

  // Forward: A = weight rows, B = forward_tap, epilogue forward_out + bias.
  {
    ConvShape s = shape_of(c, nv);
    s.M = s.Cog, s.K = s.Cig * khw, s.Ncols = c.N * nv.Ho * nv.Wo;
    std::vector<double> y(gy.size(), std::nan(""));
    for (int g = 0; g < c.groups; ++g)
      for (int m = 0; m < s.M; ++m)
        for (int64_t col = 0; col < s.Ncols + 3; ++col) {  // columns past the end gather nothing
          const GatherColumn gc = forward_column(s, g, col);
          if (col >= s.Ncols) {
            ASSERT_FALSE(gc.ok);
            ASSERT_EQ(forward_tap(s, gc, 0), -1);
            continue;
          }
          double acc = 0;
          for (int64_t k = 0; k < s.K + 2; ++k) {  // k past K gathers nothing
            const int64_t off = forward_tap(s, gc, k);
            if (k >= s.K) ASSERT_EQ(off, -1);
            if (off < 0) continue;
            ASSERT_LT(off, int64_t(x.size()));
            acc += w[(int64_t(g) * s.Cog + m) * s.K + k] * x[off];
          }
          const int64_t o = forward_out(s, g, m, col);
          ASSERT_TRUE(std::isnan(y[o])) << "written twice";
          y[o] = acc + bias[g * s.Cog + m];
        }
    for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], y_ref[i]) << what << " forward " << i;
  }
  // BackwardInput: A = input_grad_weight_row + m * khw, B = input_grad_source.
  {
    ConvShape s = shape_of(c, nv);
    s.M = s.Cig, s.K = s.Cog * khw, s.Ncols = c.N * c.H * c.W;
    std::vector<double> gx(x.size(), std::nan(""));
    for (int g = 0; g < c.groups; ++g)
      for (int m = 0; m < s.M; ++m)
        for (int64_t col = 0; col < s.Ncols; ++col) {
          const GatherColumn gc = input_grad_column(s, g, col);
          double acc = 0;
          for (int64_t k = 0; k < s.K; ++k) {
            const int64_t off = input_grad_source(s, gc, k);
            if (off < 0) continue;
            ASSERT_LT(off, int64_t(gy.size()));
            acc += w[input_grad_weight_row(s, g, k) + int64_t(m) * khw] * gy[off];
          }
          const int64_t o = input_grad_out(s, g, m, col);
          ASSERT_TRUE(std::isnan(gx[o])) << "written twice";
          gx[o] = acc;
        }
    for (size_t i = 0; i < gx.size(); ++i) ASSERT_EQ(gx[i], gx_ref[i]) << what << " backward input " << i;
  }
  // BackwardWeight: K = N*Ho*Wo in splits, partials combined in split order.
  {
    ConvShape s = shape_of(c, nv);
    s.M = s.Cog, s.Ncols = s.Cig * khw, s.K = c.N * nv.Ho * nv.Wo;
    // A small target tile count forces several splits even for these small problems.
    const ReductionSplit rs = weight_grad_split(s.K, 1, 8);
    s.splits = int(rs.splits);
    s.k_chunk = rs.chunk;
    s.slab = int64_t(w.size());
    std::vector<double> partial(w.size() * size_t(s.splits), std::nan(""));
    for (int split = 0; split < s.splits; ++split) {
      const int64_t kbeg = split * s.k_chunk, kend = std::min<int64_t>(kbeg + s.k_chunk, s.K);
      for (int g = 0; g < c.groups; ++g)
        for (int m = 0; m < s.M; ++m)
          for (int64_t col = 0; col < s.Ncols + 2; ++col) {
            const WeightGradTap tap = weight_grad_tap(s, col);
            if (col >= s.Ncols) {
              ASSERT_LT(tap.plane, 0);
              continue;
            }
            double acc = 0;
            for (int64_t k = kbeg; k < kend; ++k) {
              const WeightGradPixel px = weight_grad_pixel(s, g, k);
              const int64_t off = weight_grad_input(s, px, tap);
              if (off < 0) continue;
              ASSERT_LT(off, int64_t(x.size()));
              acc += gy[px.grad_out + int64_t(m) * nv.Ho * nv.Wo] * x[off];
            }
            const int64_t o = weight_grad_out(s, g, split, m, col);
            ASSERT_TRUE(std::isnan(partial[o])) << "written twice";
            partial[o] = acc;
          }
    }
    for (size_t i = 0; i < w.size(); ++i) {
      double acc = 0;
      for (int p = 0; p < s.splits; ++p) acc += partial[p * w.size() + i];
      ASSERT_EQ(acc, gw_ref[i]) << what << " backward weight " << i;
    }
  }
}

TEST(ConvMath, GatheredGemmsMatchDirectConvolution) {
  std::mt19937 rng(7);
  const Case fixed[] = {
      {1, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2, 1, 1, 1},   // LeNet's first layer
      {2, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 1, 1, 1},  // and its second
      {1, 3, 9, 11, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1},    // stride 2, odd sizes
      {2, 4, 7, 8, 6, 3, 2, 1, 2, 2, 0, 2, 1, 2},     // dilation, rectangular kernel, groups
      {1, 6, 6, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 6},     // depthwise
      {3, 2, 5, 5, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1},     // 1x1
      {1, 2, 4, 4, 2, 4, 4, 3, 3, 3, 3, 1, 1, 1},     // kernel as large as the input, big padding
      {2, 3, 10, 7, 9, 3, 3, 3, 2, 0, 1, 2, 3, 3},
  };
  for (const Case& c : fixed) check_case(c, rng);
  for (int trial = 0; trial < 150; ++trial) {
    Case c;
    c.groups = 1 + rng() % 3;
    c.Ci = c.groups * (1 + rng() % 3);
    c.Co = c.groups * (1 + rng() % 3);
    c.N = 1 + rng() % 3;
    c.kh = 1 + rng() % 4, c.kw = 1 + rng() % 4;
    c.sh = 1 + rng() % 3, c.sw = 1 + rng() % 3;
    c.dh = 1 + rng() % 2, c.dw = 1 + rng() % 2;
    c.ph = rng() % 3, c.pw = rng() % 3;
    c.H = 1 + rng() % 9, c.W = 1 + rng() % 9;
    if (out_size(c.H, c.kh, c.sh, c.ph, c.dh) < 1 || out_size(c.W, c.kw, c.sw, c.pw, c.dw) < 1) continue;
    check_case(c, rng);
    if (HasFatalFailure()) return;
  }
}

// ---------------- pooling windows ----------------

TEST(PoolMath, FixedWindowMatchesBruteForce) {
  for (int64_t in = 1; in <= 11; ++in)
    for (int64_t k = 1; k <= 4; ++k)
      for (int64_t s = 1; s <= 3; ++s)
        for (int64_t p = 0; p <= k / 2; ++p)
          for (int64_t d = 1; d <= 2; ++d)
            for (bool ceil_mode : {false, true}) {
              const int64_t span = in + 2 * p - d * (k - 1) - 1;
              if (span < 0) continue;
              int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
              // PyTorch drops a ceil_mode window that starts in the right padding
              if (ceil_mode && (out - 1) * s >= in + p) --out;
              for (int64_t o = 0; o < out; ++o) {
                const PoolWindow w = fixed_window(o, in, k, s, p, d);
                std::vector<int64_t> want;
                int64_t padded = 0;
                for (int64_t t = 0; t < k; ++t) {
                  const int64_t pos = o * s - p + t * d;
                  if (pos >= 0 && pos < in) want.push_back(pos);
                  if (pos >= -p && pos < in + p) ++padded;
                }
                std::vector<int64_t> got;
                for (int64_t pos = w.first; pos < w.end; pos += w.step) got.push_back(pos);
                ASSERT_EQ(got, want) << in << " k" << k << " s" << s << " p" << p << " d" << d << " o" << o;
                ASSERT_EQ(w.count(), int64_t(want.size()));
                // With padding <= kernel / 2 (PyTorch's rule) an undilated window always has a tap.
                if (d == 1) ASSERT_FALSE(want.empty());
                if (d == 1) {  // PyTorch's count_include_pad divisor (avg_pool2d has no dilation)
                  const int64_t hstart = o * s - p;
                  const int64_t hend = std::min(hstart + k, in + p);
                  ASSERT_EQ(w.padded_count, hend - hstart);
                }
                ASSERT_EQ(w.padded_count, padded);
                for (int64_t pos = 0; pos < in; ++pos)
                  for (int64_t t = 0; t < k; ++t) {
                    const int64_t src = pool_source_out(pos, t, s, p, d, out);
                    const bool reads = o * s - p + t * d == pos;
                    if (reads) ASSERT_EQ(src, o);
                    if (src == o) ASSERT_TRUE(reads);
                  }
              }
            }
}

TEST(PoolMath, AdaptiveWindowsAndTheirCovering) {
  for (int64_t in = 1; in <= 20; ++in)
    for (int64_t out = 1; out <= 20; ++out) {
      for (int64_t o = 0; o < out; ++o) {
        const PoolWindow w = adaptive_window(o, in, out);
        ASSERT_EQ(w.first, (o * in) / out);
        ASSERT_EQ(w.end, int64_t(std::ceil(double((o + 1) * in) / double(out))));
        ASSERT_GT(w.count(), 0);
        ASSERT_EQ(w.padded_count, w.count());
      }
      for (int64_t pos = 0; pos < in; ++pos) {
        int64_t lo, hi;
        adaptive_covering(pos, in, out, &lo, &hi);
        for (int64_t o = 0; o < out; ++o) {
          const PoolWindow w = adaptive_window(o, in, out);
          const bool holds = w.first <= pos && pos < w.end;
          ASSERT_EQ(holds, lo <= o && o <= hi) << "in " << in << " out " << out << " pos " << pos << " o " << o;
        }
      }
    }
}

TEST(PoolMath, MaxRuleAndDivisor) {
  // Scan as the kernel does: from -inf with the first position's index.
  auto argmax = [](const std::vector<float>& v) {
    float best = -std::numeric_limits<float>::infinity();
    int idx = 0;
    for (int i = 0; i < int(v.size()); ++i)
      if (pool_max_takes(v[i], best)) best = v[i], idx = i;
    return idx;
  };
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  EXPECT_EQ(argmax({1, 3, 3, 2}), 1);  // first maximum among equals
  EXPECT_EQ(argmax({1, nan, 5, 2}), 1);  // NaN beats every number
  EXPECT_EQ(argmax({nan, 1, nan, 2}), 2);  // the last NaN, as PyTorch's kernels
  EXPECT_EQ(argmax({-inf, -inf}), 0);  // all -inf: the first position
  EXPECT_EQ(argmax({-inf, 0}), 1);

  PoolWindow r = fixed_window(0, 5, 3, 2, 1, 1), c = fixed_window(2, 5, 3, 2, 1, 1);
  EXPECT_EQ(r.count(), 2);  // taps -1 (padding), 0, 1
  EXPECT_EQ(r.padded_count, 3);
  EXPECT_EQ(c.count(), 2);  // taps 3, 4, 5 (padding)
  EXPECT_EQ(avg_divisor(r, c, true, 0), 9);
  EXPECT_EQ(avg_divisor(r, c, false, 0), 4);
  EXPECT_EQ(avg_divisor(r, c, false, 7), 7);
  // ceil_mode's last window hanging past the padding counts only up to it.
  PoolWindow last = fixed_window(2, 5, 2, 2, 0, 1);  // taps 4, 5 (outside, no padding)
  EXPECT_EQ(last.count(), 1);
  EXPECT_EQ(last.padded_count, 1);
}

}  // namespace
