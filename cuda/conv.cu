// 2-D convolution (NCHW, groups, stride, padding, dilation) and its two
// gradients, each as one implicit GEMM per group.
//
// Why implicit GEMM and not im2col + matmul_cuda: the column matrix of a
// 3x3 convolution is nine times the input (for a ResNet batch, hundreds of
// megabytes written and read back once), while gathering it straight into
// the GEMM's shared-memory tiles costs only index arithmetic, which
// FastDivmod (cuda/conv_math.h) keeps to a multiply and a shift per split.
// One kernel template serves the three primitives; only the operand
// gathers and the epilogue differ (ConvPass):
//
//   Forward         out[n, co, p]  = sum_k W[co, k] * X[n, k, p]
//                   M = Co/g, N = batch*Ho*Wo, K = Ci/g*kh*kw;
//                   A = the weight rows, B = the input gathered through
//                   the window (zero where it falls in the padding);
//                   the bias is added in the epilogue.
//   BackwardInput   gin[n, ci, q]  = sum_(co,tap) W[co, ci, tap] * gout[n, co, src(q, tap)]
//                   M = Ci/g, N = batch*H*W, K = Co/g*kh*kw; B gathers
//                   the output pixel that reads input pixel q through each
//                   tap (conv_source_out: none between strides). This is
//                   the transposed convolution written as a gather, so
//                   every input pixel is written once and nothing is
//                   accumulated with atomics.
//   BackwardWeight  gw[co, k]      = sum_(n,p) gout[n, co, p] * X[n, k, p]
//                   M = Co/g, N = Ci/g*kh*kw, K = batch*Ho*Wo. The long
//                   reduction is cut into splits fixed by the sizes
//                   (weight_grad_split); each writes a partial result and
//                   combine_partials_kernel adds them in split order, so the
//                   sum is deterministic.
//
// The tile loop is the SGEMM's (cuda/matmul.cu): BMxBK and BKxBN tiles in
// shared memory, a TMxTN register block per thread, the next tiles loaded
// into registers while the current ones are multiplied. Tile shapes follow
// the GEMM's M: 16x128 for LeNet's 6 and 16 channels, 64x128 for 64
// channels and 128x128 for more when the grid still fills the GPU, else
// 64x64. float32 accumulates in float, float64 in double; the op layer
// converts 16-bit types first.
#include <algorithm>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/conv_math.h"
#include "cuda/gemm_tile.cuh"
#include "cuda/kernels.h"

namespace ember {
namespace cuda {

namespace {

enum class ConvPass { Forward, BackwardInput, BackwardWeight };

template <class T, ConvPass PASS, int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
    conv_gemm_kernel(ConvShape s, const T* __restrict__ P, const T* __restrict__ Q, const T* __restrict__ bias,
                     T* __restrict__ out) {
  constexpr int NT = (BM / TM) * (BN / TN);
  constexpr int A_PER = (BM * BK + NT - 1) / NT;
  constexpr int B_PER = (BK * BN + NT - 1) / NT;
  constexpr int PAD = 16 / int(sizeof(T));  // keeps rows 16-byte aligned and spreads transposing stores
  static_assert(NT % BK == 0, "k-fast loads keep one k per thread");
  static_assert(BN <= NT && NT % BN == 0, "n-fast loads keep one column per thread");
  __shared__ __align__(16) T As[BK][BM + PAD];
  __shared__ __align__(16) T Bs[BK][BN + PAD];

  const int tid = threadIdx.x;
  const int tx = tid % (BN / TN), ty = tid / (BN / TN);
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int g = s.group0 + int(blockIdx.z) / s.splits;
  const int split = int(blockIdx.z) % s.splits;
  const int64_t HW = int64_t(s.H) * s.W, HoWo = int64_t(s.Ho) * s.Wo;
  const int khw = s.kh * s.kw;

  int64_t kbeg = 0, kend = s.K;
  if constexpr (PASS == ConvPass::BackwardWeight) {
    kbeg = split * s.k_chunk;
    kend = kbeg + s.k_chunk < s.K ? kbeg + s.k_chunk : s.K;
  }

  // k-fast loads (the A tile everywhere, the B tile of BackwardWeight):
  // this thread's k within the tile, and its rows / columns i.
  const int k_fast = tid % BK;
  const int r_fast = tid / BK;  // + i * (NT / BK)
  // n-fast loads (the B tile of Forward and BackwardInput): one column, its
  // k's within the tile are k_slow + i * (NT / BN).
  const int n_fast = tid % BN;
  const int k_slow = tid / BN;

  // Per-thread gather state that does not depend on k (cuda/conv_math.h).
  GatherColumn column;
  if constexpr (PASS == ConvPass::Forward) column = forward_column(s, g, n0 + n_fast);
  if constexpr (PASS == ConvPass::BackwardInput) column = input_grad_column(s, g, n0 + n_fast);
  // BackwardWeight: this thread's B columns (ci, tap), fixed for the whole reduction.
  constexpr int kTaps = PASS == ConvPass::BackwardWeight ? B_PER : 1;
  WeightGradTap taps[kTaps];
  if constexpr (PASS == ConvPass::BackwardWeight) {
#pragma unroll
    for (int i = 0; i < B_PER; ++i) {
      const int n = r_fast + i * (NT / BK);
      if (n < BN) taps[i] = weight_grad_tap(s, n0 + n);
    }
  }
  const T* Pg = P;
  if constexpr (PASS == ConvPass::Forward) Pg = P + int64_t(g) * s.Cog * s.K;

  T ra[A_PER], rb[B_PER];
  auto load_tiles = [&](int64_t k0) {
    const int64_t kf = k0 + k_fast;
    const bool kf_ok = kf < kend;
    if constexpr (PASS == ConvPass::Forward) {
#pragma unroll
      for (int i = 0; i < A_PER; ++i) {
        const int m = m0 + r_fast + i * (NT / BK);
        ra[i] = (kf_ok && m < s.M) ? Pg[int64_t(m) * s.K + kf] : T(0);
      }
#pragma unroll
      for (int i = 0; i < B_PER; ++i) {
        const int64_t off = forward_tap(s, column, k0 + k_slow + i * (NT / BN));
        rb[i] = off >= 0 ? Q[off] : T(0);
      }
    } else if constexpr (PASS == ConvPass::BackwardInput) {
      const int64_t row = kf_ok ? input_grad_weight_row(s, g, kf) : 0;
#pragma unroll
      for (int i = 0; i < A_PER; ++i) {
        const int m = m0 + r_fast + i * (NT / BK);
        ra[i] = (kf_ok && m < s.M) ? P[row + int64_t(m) * khw] : T(0);
      }
#pragma unroll
      for (int i = 0; i < B_PER; ++i) {
        const int64_t off = input_grad_source(s, column, k0 + k_slow + i * (NT / BN));
        rb[i] = off >= 0 ? Q[off] : T(0);
      }
    } else {  // BackwardWeight: one pixel k per thread serves both tiles
      WeightGradPixel px;
      if (kf_ok) px = weight_grad_pixel(s, g, kf);
#pragma unroll
      for (int i = 0; i < A_PER; ++i) {
        const int m = m0 + r_fast + i * (NT / BK);
        ra[i] = (kf_ok && m < s.M) ? P[px.grad_out + int64_t(m) * HoWo] : T(0);
      }
#pragma unroll
      for (int i = 0; i < B_PER; ++i) {
        const int64_t off = kf_ok ? weight_grad_input(s, px, taps[i]) : -1;
        rb[i] = off >= 0 ? Q[off] : T(0);
      }
    }
  };
  auto store_tiles = [&]() {
#pragma unroll
    for (int i = 0; i < A_PER; ++i) {
      const int m = r_fast + i * (NT / BK);
      if (A_PER * NT == BM * BK || m < BM) As[k_fast][m] = ra[i];
    }
#pragma unroll
    for (int i = 0; i < B_PER; ++i) {
      if constexpr (PASS == ConvPass::BackwardWeight) {
        const int n = r_fast + i * (NT / BK);
        if (B_PER * NT == BK * BN || n < BN) Bs[k_fast][n] = rb[i];
      } else {
        const int k = k_slow + i * (NT / BN);
        if (B_PER * NT == BK * BN || k < BK) Bs[k][n_fast] = rb[i];
      }
    }
  };

  T acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = T(0);
  T fa[TM], fb[TN];
  load_tiles(kbeg);
  for (int64_t k0 = kbeg; k0 < kend; k0 += BK) {
    store_tiles();
    __syncthreads();
    if (k0 + BK < kend) load_tiles(k0 + BK);  // in flight while we multiply
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      load_fragment<T, BM, TM>(fa, &As[k][0], ty);
      load_fragment<T, BN, TN>(fb, &Bs[k][0], tx);
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fa[i] * fb[j] + acc[i][j];  // contracted to FMA
    }
    __syncthreads();
  }

  // Epilogue: each output element is written by exactly one thread.
#pragma unroll
  for (int j = 0; j < TN; ++j) {
    const int64_t n = n0 + sgemm_slot<BN, TN>(tx, j);
    if (n >= s.Ncols) continue;
    int64_t base, m_stride;
    if constexpr (PASS == ConvPass::Forward) {
      base = forward_out(s, g, 0, n);
      m_stride = HoWo;
    } else if constexpr (PASS == ConvPass::BackwardInput) {
      base = input_grad_out(s, g, 0, n);
      m_stride = HW;
    } else {
      base = weight_grad_out(s, g, split, 0, n);
      m_stride = s.Ncols;
    }
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const int m = m0 + sgemm_slot<BM, TM>(ty, i);
      if (m >= s.M) continue;
      T v = acc[i][j];
      if constexpr (PASS == ConvPass::Forward) {
        if (bias) v += bias[int64_t(g) * s.Cog + m];
      }
      out[base + int64_t(m) * m_stride] = v;
    }
  }
}

// out[i] = partial[0][i] + partial[1][i] + ... in that order: the fixed
// combine of the weight gradient's splits.
template <class T>
__global__ void combine_partials_kernel(const T* __restrict__ partial, int64_t parts, int64_t n, T* __restrict__ out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    T acc = T(0);
    for (int64_t p = 0; p < parts; ++p) acc += partial[p * n + i];
    out[i] = acc;
  }
}

// A tile configuration of conv_gemm_kernel.
template <int BM_, int BN_, int BK_, int TM_, int TN_>
struct Tiles {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_;
  static constexpr int kThreads = (BM / TM) * (BN / TN);
};
using ThinTiles = Tiles<16, 128, 8, 2, 4>;   // few output channels (LeNet's 6 and 16)
using MidTiles = Tiles<64, 64, 8, 4, 4>;
using WideTiles = Tiles<64, 128, 8, 4, 8>;  // float32, 64 output channels (VGG/ResNet stems), full grid
using BigTiles = Tiles<128, 128, 8, 8, 8>;   // float32, enough tiles to fill the GPU

int32_t checked_int(int64_t v, const char* what) {
  EMBER_CHECK(v >= 0 && v <= INT32_MAX, Error, "CUDA convolution: ", what, " (", v,
              ") does not fit the kernels' 32-bit sizes");
  return int32_t(v);
}

// The shape of the whole problem; launches then narrow N, group0 and the GEMM.
ConvShape base_shape(const Tensor& in_like, const Tensor& weight, const Tensor& out_like, const Conv2dParams& p) {
  ConvShape s{};
  s.N = checked_int(in_like->shape[0], "batch");
  s.Ci = checked_int(in_like->shape[1], "input channels");
  s.H = checked_int(in_like->shape[2], "input height");
  s.W = checked_int(in_like->shape[3], "input width");
  s.Co = checked_int(weight->shape[0], "output channels");
  s.kh = checked_int(weight->shape[2], "kernel height");
  s.kw = checked_int(weight->shape[3], "kernel width");
  s.Ho = checked_int(out_like->shape[2], "output height");
  s.Wo = checked_int(out_like->shape[3], "output width");
  s.sh = checked_int(p.stride[0], "stride");
  s.sw = checked_int(p.stride[1], "stride");
  s.ph = checked_int(p.padding[0], "padding");
  s.pw = checked_int(p.padding[1], "padding");
  s.dh = checked_int(p.dilation[0], "dilation");
  s.dw = checked_int(p.dilation[1], "dilation");
  const int groups = checked_int(p.groups, "groups");
  EMBER_CHECK(groups >= 1 && s.Ci % groups == 0 && s.Co % groups == 0 && s.sh >= 1 && s.sw >= 1 && s.dh >= 1 &&
                  s.dw >= 1,
              Error, "CUDA convolution: invalid geometry (the op layer checks it)");
  s.Cig = s.Ci / groups;
  s.Cog = s.Co / groups;
  EMBER_CHECK(int64_t(s.H) * s.W <= kMaxPixelsPerLaunch && int64_t(s.Ho) * s.Wo <= kMaxPixelsPerLaunch, Error,
              "CUDA convolution: a ", s.H, "x", s.W, " plane is too large for the kernels' 32-bit pixel index");
  checked_int(int64_t(std::max(s.Cig, s.Cog)) * s.kh * s.kw, "channels times kernel size");
  // Padded coordinates (h + pad) and window corners stay within int32.
  checked_int(int64_t(s.H) + s.ph + int64_t(s.dh) * s.kh, "padded input height");
  checked_int(int64_t(s.W) + s.pw + int64_t(s.dw) * s.kw, "padded input width");
  checked_int(int64_t(s.Ho) * s.sh + s.ph, "output height times stride");
  checked_int(int64_t(s.Wo) * s.sw + s.pw, "output width times stride");
  return make_conv_shape(s.N, s.Ci, s.H, s.W, s.Co, s.kh, s.kw, s.Ho, s.Wo, s.sh, s.sw, s.ph, s.pw, s.dh, s.dw,
                         groups);
}

constexpr int64_t kMaxGridZ = 65535;

// Launches one pass of conv_gemm_kernel with tiles C over groups
// [0, groups), in chunks that respect gridDim.z.
template <class T, ConvPass PASS, class C>
void launch_pass(ConvShape s, int groups, const T* P, const T* Q, const T* bias, T* out) {
  const int64_t per_launch = std::max<int64_t>(1, kMaxGridZ / s.splits);
  for (int g0 = 0; g0 < groups; g0 += int(per_launch)) {
    const int ng = int(std::min<int64_t>(per_launch, groups - g0));
    s.group0 = g0;
    dim3 grid(unsigned(ceil_div(s.Ncols, C::BN)), unsigned(ceil_div(s.M, C::BM)), unsigned(ng * s.splits));
    conv_gemm_kernel<T, PASS, C::BM, C::BN, C::BK, C::TM, C::TN><<<grid, C::kThreads, 0, stream()>>>(s, P, Q, bias, out);
    EMBER_CUDA_LAUNCH_CHECK("conv_gemm_kernel");
  }
}

// The tile shape for a GEMM of M rows: the largest whose rows M fills
// and whose grid still covers every SM.
enum class TileChoice { Thin, Mid, Wide, Big };
template <class T>
TileChoice choose_tiles(int64_t M, int64_t Ncols, int64_t blocks_z) {
  if (M <= 16) return TileChoice::Thin;
  if (!std::is_same<T, float>::value || M <= 32) return TileChoice::Mid;
  if (M > 64 && ceil_div(M, int64_t(128)) * ceil_div(Ncols, int64_t(128)) * blocks_z >= sm_count())
    return TileChoice::Big;
  if (ceil_div(M, int64_t(64)) * ceil_div(Ncols, int64_t(128)) * blocks_z >= sm_count()) return TileChoice::Wide;
  return TileChoice::Mid;
}

template <class T, ConvPass PASS>
void launch_with_tiles(TileChoice c, const ConvShape& s, int groups, const T* P, const T* Q, const T* bias, T* out) {
  if (c == TileChoice::Thin) {
    launch_pass<T, PASS, ThinTiles>(s, groups, P, Q, bias, out);
  } else if constexpr (std::is_same<T, float>::value) {
    if (c == TileChoice::Big) launch_pass<T, PASS, BigTiles>(s, groups, P, Q, bias, out);
    else if (c == TileChoice::Wide) launch_pass<T, PASS, WideTiles>(s, groups, P, Q, bias, out);
    else launch_pass<T, PASS, MidTiles>(s, groups, P, Q, bias, out);
  } else {
    launch_pass<T, PASS, MidTiles>(s, groups, P, Q, bias, out);  // float64: 16 accumulators per thread
  }
}

template <class F>
void dispatch_conv_dtype(DType dt, const char* what, F&& f) {
  switch (dt) {
    case DType::Float32: f(Tag<float>{}); break;
    case DType::Float64: f(Tag<double>{}); break;
    default: throw TypeError(str(what, " on CUDA is not implemented for ", dtype_name(dt)));
  }
}

}  // namespace

void conv2d_cuda(const Tensor& out, const Tensor& in, const Tensor& weight, const Tensor& bias,
                 const Conv2dParams& p) {
  ConvShape s = base_shape(in, weight, out, p);
  if (out->numel() == 0) return;
  const int groups = int(p.groups);
  s.M = s.Cog;
  s.K = s.Cig * s.kh * s.kw;
  const int64_t per_image = int64_t(s.Ho) * s.Wo;
  const int64_t chunk = images_per_launch(s.N, per_image);
  dispatch_conv_dtype(out->dtype, "conv2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = data_ptr<T>(in);
    const T* w = data_ptr<T>(weight);
    const T* b = bias ? data_ptr<T>(bias) : nullptr;
    T* y = data_ptr<T>(out);
    for (int64_t n0 = 0; n0 < s.N; n0 += chunk) {
      ConvShape c = s;
      c.N = int(std::min<int64_t>(chunk, s.N - n0));
      c.Ncols = int(c.N * per_image);
      launch_with_tiles<T, ConvPass::Forward>(choose_tiles<T>(c.M, c.Ncols, groups), c, groups, w,
                                              x + n0 * s.Ci * int64_t(s.H) * s.W, b, y + n0 * s.Co * per_image);
    }
  });
}

void conv2d_backward_input_cuda(const Tensor& grad_in, const Tensor& grad_out, const Tensor& weight,
                                const Conv2dParams& p) {
  ConvShape s = base_shape(grad_in, weight, grad_out, p);
  if (grad_in->numel() == 0) return;
  const int groups = int(p.groups);
  s.M = s.Cig;
  s.K = s.Cog * s.kh * s.kw;
  const int64_t per_image = int64_t(s.H) * s.W;
  const int64_t chunk = images_per_launch(s.N, per_image);
  dispatch_conv_dtype(grad_in->dtype, "conv2d backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* go = data_ptr<T>(grad_out);
    const T* w = data_ptr<T>(weight);
    T* gi = data_ptr<T>(grad_in);
    for (int64_t n0 = 0; n0 < s.N; n0 += chunk) {
      ConvShape c = s;
      c.N = int(std::min<int64_t>(chunk, s.N - n0));
      c.Ncols = int(c.N * per_image);
      // K == 0 (no output channels) leaves the accumulators at zero: the kernel still writes them.
      launch_with_tiles<T, ConvPass::BackwardInput>(choose_tiles<T>(c.M, c.Ncols, groups), c, groups, w,
                                                    go + n0 * s.Co * int64_t(s.Ho) * s.Wo, nullptr,
                                                    gi + n0 * s.Ci * per_image);
    }
  });
}

void conv2d_backward_weight_cuda(const Tensor& grad_weight, const Tensor& grad_out, const Tensor& in,
                                 const Conv2dParams& p) {
  ConvShape s = base_shape(in, grad_weight, grad_out, p);
  if (grad_weight->numel() == 0) return;
  const int groups = int(p.groups);
  s.M = s.Cog;
  s.Ncols = s.Cig * s.kh * s.kw;
  const int64_t per_image = int64_t(s.Ho) * s.Wo;
  const int64_t chunk = images_per_launch(s.N, per_image);
  const int64_t total = grad_weight->numel();
  // Each launch's split, from the sizes only: the tile count of a fixed
  // 64x64 tiling (the kernel's own tile choice follows the SM count, but
  // tiles never change the order of a sum; the split does).
  const int64_t ref_tiles = ceil_div(s.M, int64_t(64)) * ceil_div(s.Ncols, int64_t(64)) * groups;
  struct Launch {
    int64_t n0, images;
    ReductionSplit split;
  };
  std::vector<Launch> launches;
  int64_t parts = 0;
  for (int64_t n0 = 0; n0 == 0 || n0 < s.N; n0 += chunk) {  // one launch even for an empty batch: it writes zeros
    const int64_t images = std::min<int64_t>(chunk, s.N - n0);
    launches.push_back({n0, images, weight_grad_split(images * per_image, ref_tiles, 8)});
    parts += launches.back().split.splits;
  }
  dispatch_conv_dtype(grad_weight->dtype, "conv2d weight backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* go = data_ptr<T>(grad_out);
    const T* x = data_ptr<T>(in);
    T* gw = data_ptr<T>(grad_weight);
    const TileChoice tc = choose_tiles<T>(s.M, s.Ncols, groups);
    Workspace ws(parts > 1 ? size_t(parts) * size_t(total) * sizeof(T) : 0, in->device().index);
    T* partial = parts > 1 ? ws.as<T>() : gw;
    int64_t slab0 = 0;
    for (const Launch& l : launches) {
      ConvShape c = s;
      c.N = int(l.images);
      c.K = checked_int(l.images * per_image, "pixels per launch");
      c.splits = int(l.split.splits);
      c.k_chunk = l.split.chunk;
      c.slab = total;
      launch_with_tiles<T, ConvPass::BackwardWeight>(tc, c, groups, go + l.n0 * s.Co * per_image,
                                                     x + l.n0 * s.Ci * int64_t(s.H) * s.W, nullptr,
                                                     partial + slab0 * total);
      slab0 += c.splits;
    }
    if (parts > 1) {
      combine_partials_kernel<T><<<grid_for(total), kThreads, 0, stream()>>>(partial, parts, total, gw);
      EMBER_CUDA_LAUNCH_CHECK("combine_partials_kernel");
    }
  });
}

}  // namespace cuda
}  // namespace ember
