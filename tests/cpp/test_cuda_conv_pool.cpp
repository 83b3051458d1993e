// test_cuda_conv_pool.cpp — the CUDA convolution and pooling primitives
// against naive references computed here on the host (in double), and
// against the CPU backend's primitives on the same inputs. Every test skips
// without a visible GPU. (The index math these kernels use is checked on
// the host, GPU or not, by test_conv_pool_math.cpp.)
//
// Inputs are random in [-2, 2]; the float tolerance scales with the sum of
// the magnitudes of each output's terms, so long sums (the weight gradient
// over a whole batch) are judged fairly.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "csrc/backend.h"
#include "csrc/error.h"
#include "csrc/tensor.h"
#include "cuda/cuda_api.h"

using namespace ember;

namespace {

bool have_gpu() {
  static bool ok = cuda_device_count() > 0 && register_cuda_backend();
  return ok;
}
#define REQUIRE_GPU() \
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device visible"

const Device kCpu{DeviceType::CPU, 0};
const Device kGpu{DeviceType::CUDA, 0};

// A contiguous tensor of dtype dt on `dev` holding `v`.
Tensor make(const std::vector<double>& v, const Shape& shape, DType dt, Device dev) {
  Tensor h = make_empty(shape, dt, kCpu);
  for (size_t i = 0; i < v.size(); ++i) {
    if (dt == DType::Float32) static_cast<float*>(h->storage->data)[i] = float(v[i]);
    else if (dt == DType::Float64) static_cast<double*>(h->storage->data)[i] = v[i];
    else static_cast<int64_t*>(h->storage->data)[i] = int64_t(v[i]);
  }
  if (dev.is_cpu()) return h;
  Tensor d = make_empty(shape, dt, dev);
  if (h->storage->nbytes) backend(kGpu).copy_from_host(d->storage->data, h->storage->data, h->storage->nbytes, 0);
  return d;
}

std::vector<double> values(const Tensor& t) {
  Tensor h = t;
  if (!t->device().is_cpu()) {
    h = make_empty(t->shape, t->dtype, kCpu);
    if (t->storage->nbytes) backend(kGpu).copy_to_host(h->storage->data, t->storage->data, t->storage->nbytes, 0);
  }
  std::vector<double> v(size_t(h->numel()));
  for (size_t i = 0; i < v.size(); ++i) {
    if (h->dtype == DType::Float32) v[i] = static_cast<const float*>(h->storage->data)[i];
    else if (h->dtype == DType::Float64) v[i] = static_cast<const double*>(h->storage->data)[i];
    else v[i] = double(static_cast<const int64_t*>(h->storage->data)[i]);
  }
  return v;
}

std::vector<double> random_values(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  std::vector<double> v(n);
  for (double& x : v) x = u(rng);
  return v;
}

double eps_of(DType dt) { return dt == DType::Float32 ? 1e-6 : 1e-14; }

// |got - want| <= tol * scale (scale: the sum of the magnitudes of the terms).
void expect_near_all(const std::vector<double>& got, const std::vector<double>& want, const std::vector<double>& scale,
                     double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size() && bad < 5; ++i) {
    const double lim = tol * (scale[i] + 1.0);
    if (!(std::fabs(got[i] - want[i]) <= lim)) {
      ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i];
      ++bad;
    }
  }
}

// ---------------- convolution ----------------

struct ConvCase {
  int N, Ci, H, W, Co, kh, kw, sh, sw, ph, pw, dh, dw, groups;
  bool bias;
};

std::string name_of(const ConvCase& c, DType dt) {
  return std::string(dtype_name(dt)) + " N" + std::to_string(c.N) + " Ci" + std::to_string(c.Ci) + " " +
         std::to_string(c.H) + "x" + std::to_string(c.W) + " Co" + std::to_string(c.Co) + " k" +
         std::to_string(c.kh) + "x" + std::to_string(c.kw) + " s" + std::to_string(c.sh) + "," +
         std::to_string(c.sw) + " p" + std::to_string(c.ph) + "," + std::to_string(c.pw) + " d" +
         std::to_string(c.dh) + "," + std::to_string(c.dw) + " g" + std::to_string(c.groups);
}

struct ConvRef {
  int Ho, Wo;
  std::vector<double> y, gx, gw, y_scale, gx_scale, gw_scale;
};

ConvRef conv_reference(const ConvCase& c, const std::vector<double>& x, const std::vector<double>& w,
                       const std::vector<double>& b, const std::vector<double>& gy) {
  ConvRef r;
  r.Ho = (c.H + 2 * c.ph - c.dh * (c.kh - 1) - 1) / c.sh + 1;
  r.Wo = (c.W + 2 * c.pw - c.dw * (c.kw - 1) - 1) / c.sw + 1;
  const int Cig = c.Ci / c.groups, Cog = c.Co / c.groups;
  r.y.assign(size_t(c.N) * c.Co * r.Ho * r.Wo, 0.0);
  r.y_scale = r.y;
  r.gx.assign(x.size(), 0.0);
  r.gx_scale = r.gx;
  r.gw.assign(w.size(), 0.0);
  r.gw_scale = r.gw;
  for (int n = 0; n < c.N; ++n)
    for (int co = 0; co < c.Co; ++co)
      for (int oh = 0; oh < r.Ho; ++oh)
        for (int ow = 0; ow < r.Wo; ++ow) {
          const size_t yi = ((size_t(n) * c.Co + co) * r.Ho + oh) * r.Wo + ow;
          if (c.bias) r.y[yi] = b[co], r.y_scale[yi] = std::fabs(b[co]);
          const int g = co / Cog;
          for (int ci = 0; ci < Cig; ++ci)
            for (int a = 0; a < c.kh; ++a)
              for (int bb = 0; bb < c.kw; ++bb) {
                const int ih = oh * c.sh - c.ph + a * c.dh, iw = ow * c.sw - c.pw + bb * c.dw;
                if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
                const size_t xi = ((size_t(n) * c.Ci + g * Cig + ci) * c.H + ih) * c.W + iw;
                const size_t wi = ((size_t(co) * Cig + ci) * c.kh + a) * c.kw + bb;
                r.y[yi] += w[wi] * x[xi];
                r.y_scale[yi] += std::fabs(w[wi] * x[xi]);
                r.gx[xi] += w[wi] * gy[yi];
                r.gx_scale[xi] += std::fabs(w[wi] * gy[yi]);
                r.gw[wi] += gy[yi] * x[xi];
                r.gw_scale[wi] += std::fabs(gy[yi] * x[xi]);
              }
        }
  return r;
}

Conv2dParams params_of(const ConvCase& c) {
  Conv2dParams p;
  p.stride[0] = c.sh, p.stride[1] = c.sw;
  p.padding[0] = c.ph, p.padding[1] = c.pw;
  p.dilation[0] = c.dh, p.dilation[1] = c.dw;
  p.groups = c.groups;
  return p;
}

// The three primitives on `dev` for one case; results as host values.
struct ConvResult {
  std::vector<double> y, gx, gw;
};
ConvResult run_conv(Device dev, DType dt, const ConvCase& c, const ConvRef& r, const std::vector<double>& x,
                    const std::vector<double>& w, const std::vector<double>& b, const std::vector<double>& gy) {
  const Conv2dParams p = params_of(c);
  const int Cig = c.Ci / c.groups;
  Tensor tx = make(x, {c.N, c.Ci, c.H, c.W}, dt, dev);
  Tensor tw = make(w, {c.Co, Cig, c.kh, c.kw}, dt, dev);
  Tensor tb = c.bias ? make(b, {c.Co}, dt, dev) : Tensor();
  Tensor tgy = make(gy, {c.N, c.Co, r.Ho, r.Wo}, dt, dev);
  Tensor ty = make_empty({c.N, c.Co, r.Ho, r.Wo}, dt, dev);
  Tensor tgx = make_empty({c.N, c.Ci, c.H, c.W}, dt, dev);
  Tensor tgw = make_empty({c.Co, Cig, c.kh, c.kw}, dt, dev);
  Backend& be = backend(dev);
  be.conv2d(ty, tx, tw, tb, p);
  be.conv2d_backward_input(tgx, tgy, tw, p);
  be.conv2d_backward_weight(tgw, tgy, tx, p);
  return {values(ty), values(tgx), values(tgw)};
}

void check_conv_case(const ConvCase& c, DType dt, std::mt19937& rng, bool against_cpu) {
  const int Cig = c.Ci / c.groups;
  const std::vector<double> x = random_values(size_t(c.N) * c.Ci * c.H * c.W, rng);
  const std::vector<double> w = random_values(size_t(c.Co) * Cig * c.kh * c.kw, rng);
  const std::vector<double> b = random_values(size_t(c.Co), rng);
  ConvRef r0;
  r0.Ho = (c.H + 2 * c.ph - c.dh * (c.kh - 1) - 1) / c.sh + 1;
  r0.Wo = (c.W + 2 * c.pw - c.dw * (c.kw - 1) - 1) / c.sw + 1;
  const std::vector<double> gy = random_values(size_t(c.N) * c.Co * r0.Ho * r0.Wo, rng);
  // Values as the device dtype holds them, so the reference sees the same inputs.
  auto rounded = [&](std::vector<double> v) {
    if (dt == DType::Float32)
      for (double& e : v) e = double(float(e));
    return v;
  };
  const auto xr = rounded(x), wr = rounded(w), br = rounded(b), gyr = rounded(gy);
  const ConvRef r = conv_reference(c, xr, wr, br, gyr);
  const ConvResult g = run_conv(kGpu, dt, c, r, xr, wr, br, gyr);
  const std::string what = name_of(c, dt);
  const double tol = eps_of(dt) * 8;
  expect_near_all(g.y, r.y, r.y_scale, tol, what + " forward");
  expect_near_all(g.gx, r.gx, r.gx_scale, tol, what + " backward input");
  expect_near_all(g.gw, r.gw, r.gw_scale, tol, what + " backward weight");
  if (against_cpu) {
    const ConvResult h = run_conv(kCpu, dt, c, r, xr, wr, br, gyr);
    expect_near_all(g.y, h.y, r.y_scale, tol * 2, what + " forward vs cpu");
    expect_near_all(g.gx, h.gx, r.gx_scale, tol * 2, what + " backward input vs cpu");
    expect_near_all(g.gw, h.gw, r.gw_scale, tol * 2, what + " backward weight vs cpu");
  }
}

const ConvCase kConvCases[] = {
    // N  Ci  H   W   Co kh kw sh sw ph pw dh dw  g  bias
    {1, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2, 1, 1, 1, true},     // LeNet's layers, batch 1
    {3, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 1, 1, 1, true},
    {2, 3, 17, 13, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, true},     // stride 2, odd sizes
    {2, 4, 11, 9, 6, 3, 2, 1, 3, 2, 0, 2, 1, 2, false},     // dilation, rectangular, groups
    {1, 8, 9, 9, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8, true},       // depthwise
    {4, 5, 7, 7, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1, false},      // 1x1
    {1, 2, 5, 5, 3, 5, 5, 2, 2, 4, 4, 1, 1, 1, true},       // kernel as large as the input, wide padding
    {2, 6, 10, 7, 9, 3, 3, 3, 2, 0, 1, 2, 3, 3, true},
    {2, 64, 12, 12, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, true},   // 64 channels: mid/big tiles
    {3, 32, 9, 10, 160, 3, 3, 1, 1, 1, 1, 1, 1, 1, false},  // M > 128: several row tiles
    {2, 130, 6, 6, 20, 3, 3, 2, 1, 1, 0, 1, 1, 2, true},    // K tails, two groups
    {5, 3, 40, 40, 17, 7, 7, 2, 2, 3, 3, 1, 1, 1, true},    // many pixels: several weight splits
    // Grids large enough for the float32 64x128 and 128x128 tiles (forward, then backward-input).
    {6, 3, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, true},
    {6, 64, 56, 56, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, false},
    {3, 4, 56, 56, 160, 3, 3, 1, 1, 1, 1, 1, 1, 1, true},
    {3, 160, 56, 56, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, false},
};

TEST(CudaConv, MatchesNaiveReferenceBothDtypes) {
  REQUIRE_GPU();
  std::mt19937 rng(21);
  for (DType dt : {DType::Float32, DType::Float64})
    for (const ConvCase& c : kConvCases) check_conv_case(c, dt, rng, false);
}

TEST(CudaConv, MatchesCpuBackend) {
  REQUIRE_GPU();
  std::mt19937 rng(22);
  for (DType dt : {DType::Float32, DType::Float64})
    for (const ConvCase& c : kConvCases) check_conv_case(c, dt, rng, true);
}

TEST(CudaConv, RandomGeometries) {
  REQUIRE_GPU();
  std::mt19937 rng(23);
  for (int trial = 0; trial < 60; ++trial) {
    ConvCase c;
    c.groups = 1 + rng() % 3;
    c.Ci = c.groups * (1 + rng() % 5);
    c.Co = c.groups * (1 + rng() % 7);
    c.N = 1 + rng() % 3;
    c.kh = 1 + rng() % 4, c.kw = 1 + rng() % 4;
    c.sh = 1 + rng() % 3, c.sw = 1 + rng() % 3;
    c.dh = 1 + rng() % 2, c.dw = 1 + rng() % 2;
    c.ph = rng() % 3, c.pw = rng() % 3;
    c.H = 1 + rng() % 12, c.W = 1 + rng() % 12;
    c.bias = rng() % 2;
    if (c.H + 2 * c.ph < c.dh * (c.kh - 1) + 1 || c.W + 2 * c.pw < c.dw * (c.kw - 1) + 1) continue;
    check_conv_case(c, trial % 2 ? DType::Float64 : DType::Float32, rng, false);
  }
}

TEST(CudaConv, WeightGradientIsDeterministicAndEmptyBatchIsZero) {
  REQUIRE_GPU();
  std::mt19937 rng(24);
  // 8x64x56x56, the benchmark layer: dozens of reduction splits.
  const ConvCase c{8, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, false};
  const Conv2dParams p = params_of(c);
  Tensor x = make(random_values(size_t(8) * 64 * 56 * 56, rng), {8, 64, 56, 56}, DType::Float32, kGpu);
  Tensor gy = make(random_values(size_t(8) * 64 * 56 * 56, rng), {8, 64, 56, 56}, DType::Float32, kGpu);
  Tensor gw1 = make_empty({64, 64, 3, 3}, DType::Float32, kGpu), gw2 = make_empty({64, 64, 3, 3}, DType::Float32, kGpu);
  backend(kGpu).conv2d_backward_weight(gw1, gy, x, p);
  backend(kGpu).conv2d_backward_weight(gw2, gy, x, p);
  EXPECT_EQ(values(gw1), values(gw2)) << "two runs differ: the reduction order is not fixed";

  for (DType dt : {DType::Float32, DType::Float64}) {
    Tensor ex = make({}, {0, 3, 5, 5}, dt, kGpu), egy = make({}, {0, 4, 3, 3}, dt, kGpu);
    Tensor egw = make(std::vector<double>(4 * 3 * 9, 7.0), {4, 3, 3, 3}, dt, kGpu);
    backend(kGpu).conv2d_backward_weight(egw, egy, ex, Conv2dParams{});
    for (double v : values(egw)) ASSERT_EQ(v, 0.0) << "the gradient of an empty batch is zero";
  }
}

TEST(CudaConv, RejectsOtherDtypes) {
  REQUIRE_GPU();
  Tensor x = make_empty({1, 1, 4, 4}, DType::Int64, kGpu), w = make_empty({1, 1, 3, 3}, DType::Int64, kGpu);
  Tensor y = make_empty({1, 1, 2, 2}, DType::Int64, kGpu);
  EXPECT_THROW(backend(kGpu).conv2d(y, x, w, Tensor(), Conv2dParams{}), TypeError);
}

// ---------------- pooling ----------------

struct PoolCase {
  int N, C, H, W;
  Pool2dParams p;
  bool ceil_mode;
  int Ho = 0, Wo = 0;  // adaptive: the requested output size
};

int pool_out(int in, int k, int s, int pad, int d, bool ceil_mode) {
  const int span = in + 2 * pad - d * (k - 1) - 1;
  int o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (o - 1) * s >= in + pad) --o;
  return o;
}

Pool2dParams fixed(int kh, int kw, int sh, int sw, int ph, int pw, int dh = 1, int dw = 1) {
  Pool2dParams p;
  p.kernel[0] = kh, p.kernel[1] = kw;
  p.stride[0] = sh, p.stride[1] = sw;
  p.padding[0] = ph, p.padding[1] = pw;
  p.dilation[0] = dh, p.dilation[1] = dw;
  return p;
}
Pool2dParams adaptive() {
  Pool2dParams p;
  p.adaptive = true;
  return p;
}

void out_shape(PoolCase& c) {
  if (c.p.adaptive) return;
  c.Ho = pool_out(c.H, int(c.p.kernel[0]), int(c.p.stride[0]), int(c.p.padding[0]), int(c.p.dilation[0]), c.ceil_mode);
  c.Wo = pool_out(c.W, int(c.p.kernel[1]), int(c.p.stride[1]), int(c.p.padding[1]), int(c.p.dilation[1]), c.ceil_mode);
}

// The taps of output (oh, ow) as flat positions of the plane, in window order,
// and the average's divisor (PyTorch's rule, written out independently).
void window_of(const PoolCase& c, int oh, int ow, std::vector<int>* taps, double* divisor) {
  taps->clear();
  int h0, h1, w0, w1, hs = 1, ws = 1;
  if (c.p.adaptive) {
    h0 = oh * c.H / c.Ho, h1 = ((oh + 1) * c.H + c.Ho - 1) / c.Ho;
    w0 = ow * c.W / c.Wo, w1 = ((ow + 1) * c.W + c.Wo - 1) / c.Wo;
    *divisor = double((h1 - h0) * (w1 - w0));
  } else {
    hs = int(c.p.dilation[0]), ws = int(c.p.dilation[1]);
    h0 = oh * int(c.p.stride[0]) - int(c.p.padding[0]);
    w0 = ow * int(c.p.stride[1]) - int(c.p.padding[1]);
    h1 = h0 + (int(c.p.kernel[0]) - 1) * hs + 1;
    w1 = w0 + (int(c.p.kernel[1]) - 1) * ws + 1;
    // count_include_pad counts the taps up to `padding` past the edges (PyTorch's
    // min(start + kernel, size + padding) - start when undilated).
    int valid = 0, padded = 0;
    for (int h = h0; h < h1; h += hs)
      for (int w = w0; w < w1; w += ws) {
        valid += h >= 0 && h < c.H && w >= 0 && w < c.W;
        padded += h < c.H + int(c.p.padding[0]) && w < c.W + int(c.p.padding[1]);
      }
    *divisor = c.p.divisor_override ? double(c.p.divisor_override) : c.p.count_include_pad ? padded : valid;
  }
  for (int h = h0; h < h1; h += hs)
    for (int w = w0; w < w1; w += ws)
      if (h >= 0 && h < c.H && w >= 0 && w < c.W) taps->push_back(h * c.W + w);
}

void check_pool_case(PoolCase c, DType dt, std::mt19937& rng, bool with_specials) {
  out_shape(c);
  const int planes = c.N * c.C, hw = c.H * c.W, ohw = c.Ho * c.Wo;
  std::vector<double> x = random_values(size_t(planes) * hw, rng);
  if (dt == DType::Float32)
    for (double& e : x) e = double(float(e));
  if (with_specials && x.size() > 8) {
    x[1] = x[0];  // a tie
    x[3] = std::nan("");
    x[x.size() / 2] = -std::numeric_limits<double>::infinity();
  }
  std::vector<double> gy = random_values(size_t(planes) * ohw, rng);
  if (dt == DType::Float32)
    for (double& e : gy) e = double(float(e));
  // references
  std::vector<double> ymax(size_t(planes) * ohw), idx(ymax.size()), yavg(ymax.size());
  std::vector<double> gmax(x.size(), 0.0), gavg(x.size(), 0.0), gscale(x.size(), 0.0), ascale(ymax.size());
  std::vector<int> taps;
  for (int pl = 0; pl < planes; ++pl)
    for (int oh = 0; oh < c.Ho; ++oh)
      for (int ow = 0; ow < c.Wo; ++ow) {
        double divisor;
        window_of(c, oh, ow, &taps, &divisor);
        ASSERT_FALSE(taps.empty());
        const size_t o = size_t(pl) * ohw + size_t(oh) * c.Wo + ow;
        double best = -std::numeric_limits<double>::infinity(), sum = 0, abs_sum = 0;
        int bi = taps[0];
        for (int t : taps) {
          const double v = x[size_t(pl) * hw + t];
          if (v > best || std::isnan(v)) best = v, bi = t;  // PyTorch's scan
          sum += v;
          abs_sum += std::fabs(v);
        }
        ymax[o] = best, idx[o] = bi, yavg[o] = sum / divisor, ascale[o] = abs_sum / divisor;
        gmax[size_t(pl) * hw + bi] += gy[o];
        for (int t : taps) {
          gavg[size_t(pl) * hw + t] += gy[o] / divisor;
          gscale[size_t(pl) * hw + t] += std::fabs(gy[o]);
        }
      }
  const std::string what = std::string(dtype_name(dt)) + " pool " + std::to_string(c.H) + "x" +
                           std::to_string(c.W) + " -> " + std::to_string(c.Ho) + "x" + std::to_string(c.Wo) +
                           (c.p.adaptive ? " adaptive" : " k" + std::to_string(c.p.kernel[0]) + " s" +
                                                             std::to_string(c.p.stride[0]) + " p" +
                                                             std::to_string(c.p.padding[0]));
  Tensor tx = make(x, {c.N, c.C, c.H, c.W}, dt, kGpu);
  Tensor ty = make_empty({c.N, c.C, c.Ho, c.Wo}, dt, kGpu), ti = make_empty({c.N, c.C, c.Ho, c.Wo}, DType::Int64, kGpu);
  backend(kGpu).max_pool2d(ty, ti, tx, c.p);
  const std::vector<double> gy_max = values(ty), gi = values(ti);
  for (size_t o = 0; o < ymax.size(); ++o) {
    ASSERT_EQ(gi[o], idx[o]) << what << " max index " << o;
    if (std::isnan(ymax[o])) ASSERT_TRUE(std::isnan(gy_max[o])) << what;
    else ASSERT_EQ(gy_max[o], ymax[o]) << what << " max value " << o;
  }
  Tensor tgy = make(gy, {c.N, c.C, c.Ho, c.Wo}, dt, kGpu);
  Tensor tgx = make_empty({c.N, c.C, c.H, c.W}, dt, kGpu);
  backend(kGpu).max_pool2d_backward(tgx, tgy, ti);
  expect_near_all(values(tgx), gmax, gscale, eps_of(dt) * 4, what + " max backward");

  Tensor ta = make_empty({c.N, c.C, c.Ho, c.Wo}, dt, kGpu);
  backend(kGpu).avg_pool2d(ta, tx, c.p);
  if (!with_specials) expect_near_all(values(ta), yavg, ascale, eps_of(dt) * 8, what + " avg");
  backend(kGpu).avg_pool2d_backward(tgx, tgy, c.p);
  expect_near_all(values(tgx), gavg, gscale, eps_of(dt) * 4, what + " avg backward");
}

TEST(CudaPool, MaxAvgAdaptiveForwardBackward) {
  REQUIRE_GPU();
  std::mt19937 rng(31);
  std::vector<PoolCase> cases = {
      {256, 6, 28, 28, fixed(2, 2, 2, 2, 0, 0), false},   // LeNet
      {1, 3, 7, 9, fixed(3, 3, 2, 2, 1, 1), false},       // overlapping windows, odd sizes, batch 1
      {2, 4, 8, 8, fixed(3, 3, 1, 1, 1, 1), false},       // GoogLeNet's 3x3 stride 1: up to 9 outputs per input
      {2, 2, 9, 10, fixed(3, 2, 2, 3, 1, 1), true},       // ceil_mode with a last window past the edge
      {1, 2, 11, 11, fixed(3, 3, 2, 2, 1, 0, 2, 1), false},  // dilation
      {2, 3, 13, 7, adaptive(), false, 5, 3},
      {1, 2, 5, 5, adaptive(), false, 7, 9},              // adaptive upsampling: windows overlap
      {3, 4, 6, 6, adaptive(), false, 1, 1},              // global pooling
  };
  for (DType dt : {DType::Float32, DType::Float64})
    for (const PoolCase& c : cases) {
      check_pool_case(c, dt, rng, false);
      check_pool_case(c, dt, rng, true);
      PoolCase no_pad = c;
      no_pad.p.count_include_pad = false;
      check_pool_case(no_pad, dt, rng, false);
      if (!c.p.adaptive) {
        PoolCase over = c;
        over.p.divisor_override = 5;
        check_pool_case(over, dt, rng, false);
      }
    }
}

TEST(CudaPool, MaxBackwardSumsRepeatedIndicesInOrder) {
  REQUIRE_GPU();
  // Indices chosen by hand (the primitive takes any in-plane indices): every
  // output of a 1x1x5x8 grad points at one of three inputs, so 40 gradients
  // meet on three positions; the sum must be the sequential one, bit for bit.
  const int Ho = 5, Wo = 8, H = 3, W = 3;
  std::mt19937 rng(32);
  for (DType dt : {DType::Float32, DType::Float64}) {
    std::vector<double> gy = random_values(Ho * Wo, rng), ind(Ho * Wo);
    if (dt == DType::Float32)
      for (double& e : gy) e = double(float(e));
    for (int o = 0; o < Ho * Wo; ++o) ind[o] = (o * 7) % 3 * 4;  // positions 0, 4, 8
    std::vector<double> want(H * W, 0.0);
    if (dt == DType::Float32) {
      std::vector<float> acc(H * W, 0.f);
      for (int o = 0; o < Ho * Wo; ++o) acc[size_t(ind[o])] += float(gy[o]);
      for (int i = 0; i < H * W; ++i) want[i] = acc[i];
    } else {
      for (int o = 0; o < Ho * Wo; ++o) want[size_t(ind[o])] += gy[o];
    }
    Tensor tgy = make(gy, {1, 1, Ho, Wo}, dt, kGpu), ti = make(ind, {1, 1, Ho, Wo}, DType::Int64, kGpu);
    Tensor tgx = make_empty({1, 1, H, W}, dt, kGpu);
    backend(kGpu).max_pool2d_backward(tgx, tgy, ti);
    EXPECT_EQ(values(tgx), want) << dtype_name(dt);
  }
}

TEST(CudaPool, MatchesCpuBackend) {
  REQUIRE_GPU();
  std::mt19937 rng(33);
  for (DType dt : {DType::Float32, DType::Float64}) {
    for (Pool2dParams p : {fixed(3, 3, 2, 2, 1, 1), fixed(2, 2, 2, 2, 0, 0), adaptive()}) {
      PoolCase c{2, 3, 11, 9, p, false, 4, 3};
      out_shape(c);
      const std::vector<double> x = random_values(size_t(2 * 3 * 11 * 9), rng);
      const std::vector<double> gy = random_values(size_t(2 * 3) * c.Ho * c.Wo, rng);
      std::vector<double> res[2][4];
      for (int d = 0; d < 2; ++d) {
        const Device dev = d ? kGpu : kCpu;
        Backend& be = backend(dev);
        Tensor tx = make(x, {2, 3, 11, 9}, dt, dev), tgy = make(gy, {2, 3, c.Ho, c.Wo}, dt, dev);
        Tensor ty = make_empty({2, 3, c.Ho, c.Wo}, dt, dev), ti = make_empty({2, 3, c.Ho, c.Wo}, DType::Int64, dev);
        Tensor tgx = make_empty({2, 3, 11, 9}, dt, dev);
        be.max_pool2d(ty, ti, tx, p);
        be.max_pool2d_backward(tgx, tgy, ti);
        res[d][0] = values(ty), res[d][1] = values(ti), res[d][2] = values(tgx);
        be.avg_pool2d(ty, tx, p);
        res[d][3] = values(ty);
      }
      EXPECT_EQ(res[1][0], res[0][0]) << "max values";
      EXPECT_EQ(res[1][1], res[0][1]) << "max indices";
      std::vector<double> ones(res[0][2].size(), 4.0), ones3(res[0][3].size(), 4.0);
      expect_near_all(res[1][2], res[0][2], ones, eps_of(dt), "max backward vs cpu");
      expect_near_all(res[1][3], res[0][3], ones3, eps_of(dt), "avg vs cpu");
    }
  }
}

}  // namespace
