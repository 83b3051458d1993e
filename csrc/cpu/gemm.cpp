// gemm.cpp — BLIS-style float32/float64 matrix multiply for the CPU.
//
// Structure (outer to inner), following the BLIS decomposition:
//   jc: NC columns of B/C    -> packed B block (KC x NC) lives in L3
//   pc: KC-deep slice of K    -> one pass of rank-KC updates
//   ic: MC rows of A/C        -> packed A block (MC x KC) lives in L2
//   jr: NR-column panel       -> one B micro-panel (KC x NR) stays in L1
//   ir: MR-row panel          -> micro-kernel keeps the MR x NR C tile in registers
// Packing turns any (row, column) strides into unit-stride streams, so
// transposed and strided operands cost one copy of O(MK + KN), never O(MNK).
//
// The micro-kernels live in gemm_kernels.h; this file packs, blocks and
// schedules. The kernel is chosen at run time from CPUID.
#include "gemm.h"

#include "cpu_features.h"
#include "gemm_kernels.h"
#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace ember::cpu {
namespace {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Below this many multiply-adds a parallel region costs more than it saves
// (waking a thread and the barriers are a few microseconds).
constexpr double kParallelMinWork = 64.0 * 64.0 * 64.0;

// ---------------------------------------------------------------------------
// Packing buffers. Kept per calling thread and only ever grown, so steady-state
// calls (a training loop doing the same matmuls every step) never allocate.

constexpr size_t kAlign = 64;  // cache line; also satisfies 32-byte AVX loads

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(ptr_); }

  void* get(size_t bytes) {
    if (bytes > cap_) {
      std::free(ptr_);
      ptr_ = nullptr;
      cap_ = 0;
      // Grow geometrically so a slowly increasing size doesn't realloc each call.
      const size_t want = std::max(bytes, cap_ + cap_ / 2);
      const size_t rounded = (want + kAlign - 1) / kAlign * kAlign;
      ptr_ = std::aligned_alloc(kAlign, rounded);
      if (!ptr_) throw std::bad_alloc();
      cap_ = rounded;
    }
    return ptr_;
  }

 private:
  void* ptr_ = nullptr;
  size_t cap_ = 0;
};

thread_local AlignedBuffer tl_pack_buffer;

// Products with M, K >= kSplitNMin and N >= 2 * kSplitNMin take the
// column-split schedule and its deeper blocking, on any number of threads
// (gemm_impl).
constexpr int64_t kSplitNMin = 256;


#if EMBER_GEMM_X86
// Packs a 16-column f32 B panel whose columns are contiguous (rsb == 1, the
// x @ W.T layout of a Linear layer) with 8x8 in-register transposes rather
// than 16 strided scalar gathers per k. For a small batch this packing is most
// of the work of the whole product.
__attribute__((target("avx2,fma"))) void pack_b16_colmajor_f32_avx2(float* dst, const float* B,
                                                                     int64_t csb, int64_t kc) {
  int64_t p = 0;
  for (; p + 8 <= kc; p += 8) {
    for (int jb = 0; jb < 16; jb += 8) {
      const float* s = B + jb * csb + p;
      const __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + csb);
      const __m256 r2 = _mm256_loadu_ps(s + 2 * csb), r3 = _mm256_loadu_ps(s + 3 * csb);
      const __m256 r4 = _mm256_loadu_ps(s + 4 * csb), r5 = _mm256_loadu_ps(s + 5 * csb);
      const __m256 r6 = _mm256_loadu_ps(s + 6 * csb), r7 = _mm256_loadu_ps(s + 7 * csb);
      const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
      const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
      const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
      const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
      const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
      const __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
      const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
      const __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
      const __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
      const __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
      const __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
      const __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
      float* d = dst + p * 16 + jb;
      _mm256_storeu_ps(d + 0 * 16, _mm256_permute2f128_ps(u0, u4, 0x20));
      _mm256_storeu_ps(d + 1 * 16, _mm256_permute2f128_ps(u1, u5, 0x20));
      _mm256_storeu_ps(d + 2 * 16, _mm256_permute2f128_ps(u2, u6, 0x20));
      _mm256_storeu_ps(d + 3 * 16, _mm256_permute2f128_ps(u3, u7, 0x20));
      _mm256_storeu_ps(d + 4 * 16, _mm256_permute2f128_ps(u0, u4, 0x31));
      _mm256_storeu_ps(d + 5 * 16, _mm256_permute2f128_ps(u1, u5, 0x31));
      _mm256_storeu_ps(d + 6 * 16, _mm256_permute2f128_ps(u2, u6, 0x31));
      _mm256_storeu_ps(d + 7 * 16, _mm256_permute2f128_ps(u3, u7, 0x31));
    }
  }
  for (; p < kc; ++p)
    for (int j = 0; j < 16; ++j) dst[p * 16 + j] = B[j * csb + p];
}

#endif  // EMBER_GEMM_X86

// ---------------------------------------------------------------------------
// Per-(dtype, ISA) configuration: tile shape, cache blocking, kernel table.
//
// Blocking targets a typical AVX2 core (32 KiB L1d, 512 KiB L2, shared L3):
// KC x NR x sizeof(T) = 16 KiB B micro-panel (half of L1, leaving room for the
// streaming A panel), MC x KC x sizeof(T) ~ 170-200 KiB A block (well inside
// L2), KC x NC x sizeof(T) = 4 MiB B block shared by all threads in L3.
// For the column-split schedule of large products the AVX2 float32 kernel
// measured best with KC = 512 and MC = 96 (a 32 KiB B micro-panel, a 192 KiB
// A block): half as many read-modify-write passes over a C that no longer
// fits in L3 at 2048^2 (bench/RESULTS.md). The other configurations keep
// their blocking there (not measured).

template <class T>
struct Config {
  int MR, NR;
  int64_t MC, KC, NC;
  MicroKernel<T> kern[8];  // kern[mr - 1] computes an mr-row tile
  // Blocking for the column-split schedule of large products (gemm_impl).
  int64_t split_MC, split_KC;
  IndexedMicroKernel<T> kern_indexed[8];  // the same tiles, B rows from an offset table
};

const Config<float> kGenericF32 = {
    4, 8, 128, 256, 4096,
    {kernel_generic<float, 4, 8, 1>, kernel_generic<float, 4, 8, 2>,
     kernel_generic<float, 4, 8, 3>, kernel_generic<float, 4, 8, 4>},
    128, 256,
    {kernel_generic_indexed<float, 4, 8, 1>, kernel_generic_indexed<float, 4, 8, 2>,
     kernel_generic_indexed<float, 4, 8, 3>, kernel_generic_indexed<float, 4, 8, 4>}};
const Config<double> kGenericF64 = {
    4, 4, 128, 256, 2048,
    {kernel_generic<double, 4, 4, 1>, kernel_generic<double, 4, 4, 2>,
     kernel_generic<double, 4, 4, 3>, kernel_generic<double, 4, 4, 4>},
    128, 256,
    {kernel_generic_indexed<double, 4, 4, 1>, kernel_generic_indexed<double, 4, 4, 2>,
     kernel_generic_indexed<double, 4, 4, 3>, kernel_generic_indexed<double, 4, 4, 4>}};

#if EMBER_GEMM_X86
const Config<float> kAvx2F32 = {6,
                                16,
                                168,
                                256,
                                4096,
                                {kernel_f32_avx2<1>, kernel_f32_avx2<2>, kernel_f32_avx2<3>,
                                 kernel_f32_avx2<4>, kernel_f32_avx2<5>, kernel_f32_avx2<6>},
                                96,
                                512,
                                {kernel_f32_avx2_indexed<1>, kernel_f32_avx2_indexed<2>, kernel_f32_avx2_indexed<3>,
                                 kernel_f32_avx2_indexed<4>, kernel_f32_avx2_indexed<5>, kernel_f32_avx2_indexed<6>}};
const Config<double> kAvx2F64 = {6,
                                 8,
                                 96,
                                 256,
                                 2048,
                                 {kernel_f64_avx2<1>, kernel_f64_avx2<2>, kernel_f64_avx2<3>,
                                  kernel_f64_avx2<4>, kernel_f64_avx2<5>, kernel_f64_avx2<6>},
                                 96,
                                 256,
                                 {kernel_f64_avx2_indexed<1>, kernel_f64_avx2_indexed<2>, kernel_f64_avx2_indexed<3>,
                                  kernel_f64_avx2_indexed<4>, kernel_f64_avx2_indexed<5>, kernel_f64_avx2_indexed<6>}};
#endif

// 0 = not yet chosen, 1 = generic, 2 = avx2.
std::atomic<int> g_kernel_choice{0};

int choose_kernel() {
  int k = g_kernel_choice.load(std::memory_order_acquire);
  if (k != 0) return k;
  k = cpu_use_avx2() ? 2 : 1;
  if (const char* env = std::getenv("EMBER_GEMM_KERNEL")) {
    if (std::strcmp(env, "generic") == 0) k = 1;
  }
  g_kernel_choice.store(k, std::memory_order_release);
  return k;
}

const Config<float>& config_f32() {
#if EMBER_GEMM_X86
  if (choose_kernel() == 2) return kAvx2F32;
#else
  (void)choose_kernel();
#endif
  return kGenericF32;
}

const Config<double>& config_f64() {
#if EMBER_GEMM_X86
  if (choose_kernel() == 2) return kAvx2F64;
#else
  (void)choose_kernel();
#endif
  return kGenericF64;
}

// ---------------------------------------------------------------------------
// Packing.

// A block (mc x kc) -> consecutive MR-row panels; panel r at dst + r*MR*kc,
// element (i, p) of a panel at [p * MR + i]. A short last panel keeps the MR
// stride (its kernel reads only the rows it has), so no zero padding needed.
template <class T>
void pack_a_block(T* dst, const T* A, int64_t rsa, int64_t csa, int64_t mc, int64_t kc, int MR) {
  for (int64_t ir = 0; ir < mc; ir += MR) {
    const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
    const T* src = A + ir * rsa;
    T* d = dst + ir * kc;
    if (rsa == 1) {
      // Column-major A (e.g. a transposed view): each k is a contiguous run.
      for (int64_t p = 0; p < kc; ++p) {
        const T* s = src + p * csa;
        for (int i = 0; i < mr; ++i) d[p * MR + i] = s[i];
      }
    } else {
      // Row-major or general: read each row sequentially.
      for (int i = 0; i < mr; ++i) {
        const T* s = src + i * rsa;
        if (csa == 1) {
          for (int64_t p = 0; p < kc; ++p) d[p * MR + i] = s[p];
        } else {
          for (int64_t p = 0; p < kc; ++p) d[p * MR + i] = s[p * csa];
        }
      }
    }
  }
}

// One B micro-panel (kc x nr, nr <= NR) -> dst[p * NR + j], zero-padding
// columns nr..NR-1 so the kernel can always use full-width vector loads.
template <class T, int NR>
void pack_b_panel_fixed(T* dst, const T* B, int64_t rsb, int64_t csb, int64_t kc, int nr) {
  if (nr == NR && csb == 1) {
    // Row-major B: a straight copy of NR contiguous elements per k.
    for (int64_t p = 0; p < kc; ++p) std::memcpy(dst + p * NR, B + p * rsb, NR * sizeof(T));
    return;
  }
  if (nr < NR) {
    for (int64_t p = 0; p < kc; ++p)
      for (int j = nr; j < NR; ++j) dst[p * NR + j] = T(0);
  }
  if (csb == 1) {
    for (int64_t p = 0; p < kc; ++p)
      for (int j = 0; j < nr; ++j) dst[p * NR + j] = B[p * rsb + j];
  } else {
    // Column-major / transposed B: walk each column contiguously.
    for (int j = 0; j < nr; ++j) {
      const T* s = B + j * csb;
      if (rsb == 1) {
        for (int64_t p = 0; p < kc; ++p) dst[p * NR + j] = s[p];
      } else {
        for (int64_t p = 0; p < kc; ++p) dst[p * NR + j] = s[p * rsb];
      }
    }
  }
}

template <class T>
void pack_b_panel(T* dst, const T* B, int64_t rsb, int64_t csb, int64_t kc, int nr, int NR) {
#if EMBER_GEMM_X86
  if constexpr (sizeof(T) == 4) {
    if (NR == 16 && nr == 16 && rsb == 1 && csb != 1 && choose_kernel() == 2)
      return pack_b16_colmajor_f32_avx2(reinterpret_cast<float*>(dst),
                                        reinterpret_cast<const float*>(B), csb, kc);
  }
#endif
  // Dispatch to a fixed NR so the row copy compiles to a handful of vector moves.
  switch (NR) {
    case 4: return pack_b_panel_fixed<T, 4>(dst, B, rsb, csb, kc, nr);
    case 8: return pack_b_panel_fixed<T, 8>(dst, B, rsb, csb, kc, nr);
    case 16: return pack_b_panel_fixed<T, 16>(dst, B, rsb, csb, kc, nr);
    default:
      for (int64_t p = 0; p < kc; ++p)
        for (int j = 0; j < NR; ++j) dst[p * NR + j] = j < nr ? B[p * rsb + j * csb] : T(0);
  }
}

// ---------------------------------------------------------------------------
// Driver.

template <class T>
struct Problem {
  int64_t M, N, K;
  const T* A;
  int64_t rsa, csa;
  const T* B;
  int64_t rsb, csb;
  T* C;
  int64_t rsc, csc;
  bool accumulate;
};

struct Schedule {
  int nt;        // threads requested
  int64_t mc;    // rows per ic block (<= MC, balanced across threads)
  bool split_m;  // threads split ic blocks (else they split the jr panels)
  bool pack_b;   // false: read B in place (unit column stride, few row panels)
};

inline void team_barrier() {
#if defined(_OPENMP)
#pragma omp barrier
#endif
}

// The whole loop nest as run by one thread of a team of nt. Every thread walks
// the same jc/pc loops; work inside is split by index ranges, so the same
// thread always owns the same C tiles and only B packing needs barriers.
//
// With packed B and several row blocks, threads claim row blocks from a shared
// counter instead of a fixed split: if another process steals time from one
// core, the other core takes more blocks instead of idling at the barrier.
// Two counters alternate between K slices; each is reset one slice before its
// next use, when the barrier guarantees nobody is still claiming from it.
template <class T>
void gemm_thread(const Problem<T>& p, const Config<T>& cfg, const Schedule& s, T* bpack, T* apack,
                 T* btail, std::atomic<int64_t>* claim, int tid, int nt) {
  const int MR = cfg.MR, NR = cfg.NR;
  const int64_t nbm = ceil_div(p.M, s.mc);
  const bool dynamic = nt > 1 && s.pack_b && s.split_m;
  int64_t slice = 0;
  for (int64_t jc = 0; jc < p.N; jc += cfg.NC) {
    const int64_t nc = std::min(cfg.NC, p.N - jc);
    const int64_t npanels = ceil_div(nc, NR);
    for (int64_t pc = 0; pc < p.K; pc += cfg.KC) {
      const int64_t kc = std::min(cfg.KC, p.K - pc);
      // The first K slice overwrites C unless the caller asked to accumulate.
      const bool add = p.accumulate || pc > 0;
      const T* Bblk = p.B + pc * p.rsb + jc * p.csb;

      if (s.pack_b) {
        const int64_t q0 = npanels * tid / nt, q1 = npanels * (tid + 1) / nt;
        for (int64_t q = q0; q < q1; ++q) {
          const int nr = static_cast<int>(std::min<int64_t>(NR, nc - q * NR));
          pack_b_panel(bpack + q * NR * kc, Bblk + q * NR * p.csb, p.rsb, p.csb, kc, nr, NR);
        }
        if (nt > 1) team_barrier();
      }

      // One MC x kc row block of C against this thread's columns of the B block.
      auto row_block = [&](int64_t ib, int64_t jq0, int64_t jq1) {
        const int64_t ic = ib * s.mc;
        const int64_t mcur = std::min(s.mc, p.M - ic);
        pack_a_block(apack, p.A + ic * p.rsa + pc * p.csa, p.rsa, p.csa, mcur, kc, MR);
        for (int64_t q = jq0; q < jq1; ++q) {
          const int nr = static_cast<int>(std::min<int64_t>(NR, nc - q * NR));
          const T* bp;
          int64_t ldb;
          if (s.pack_b) {
            bp = bpack + q * NR * kc;
            ldb = NR;
          } else if (nr == NR) {
            bp = Bblk + q * NR;  // csb == 1 guaranteed by the schedule
            ldb = p.rsb;
          } else {
            // The kernel always loads NR columns; pad the ragged edge.
            pack_b_panel(btail, Bblk + q * NR, p.rsb, p.csb, kc, nr, NR);
            bp = btail;
            ldb = NR;
          }
          T* cq = p.C + ic * p.rsc + (jc + q * NR) * p.csc;
          for (int64_t ir = 0; ir < mcur; ir += MR) {
            const int mr = static_cast<int>(std::min<int64_t>(MR, mcur - ir));
            cfg.kern[mr - 1](kc, apack + ir * kc, bp, ldb, cq + ir * p.rsc, p.rsc, p.csc, nr,
                             add);
          }
        }
      };

      if (dynamic) {
        // Each thread's first block is fixed, so a team with no more blocks
        // than threads never serialises on a thread that woke late.
        std::atomic<int64_t>& counter = claim[slice & 1];
        if (tid == 0) claim[(slice + 1) & 1].store(0, std::memory_order_relaxed);
        if (tid < nbm) row_block(tid, 0, npanels);
        for (;;) {
          const int64_t ib = nt + counter.fetch_add(1, std::memory_order_relaxed);
          if (ib >= nbm) break;
          row_block(ib, 0, npanels);
        }
      } else if (s.split_m) {
        for (int64_t ib = nbm * tid / nt; ib < nbm * (tid + 1) / nt; ++ib) row_block(ib, 0, npanels);
      } else {
        const int64_t jq0 = npanels * tid / nt, jq1 = npanels * (tid + 1) / nt;
        if (jq0 < jq1)
          for (int64_t ib = 0; ib < nbm; ++ib) row_block(ib, jq0, jq1);
      }
      ++slice;
      // The next K slice repacks the shared B buffer; nobody may still read it.
      // After the last slice the parallel region's own join is enough, and on
      // a busy machine every barrier can cost a scheduler time slice.
      const bool last_slice = pc + kc >= p.K && jc + nc >= p.N;
      if (s.pack_b && nt > 1 && !last_slice) team_barrier();
    }
  }
}

int choose_threads(int64_t M, int64_t N, int64_t K) {
#if defined(_OPENMP)
  const double work = static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  if (work < kParallelMinWork || omp_in_parallel()) return 1;
  // The budget (not omp_get_max_threads() alone) so that a forked child or a
  // busy machine never starts a team here (parallel.h).
  const int max_threads = thread_budget();
  // Give each thread at least kParallelMinWork so medium sizes don't
  // over-subscribe on machines with many cores.
  const double by_work = work / kParallelMinWork;
  return static_cast<int>(std::max(1.0, std::min<double>(max_threads, by_work)));
#else
  (void)M, (void)N, (void)K;
  return 1;
#endif
}

// fn(tid, team size) on a team of nt threads (partitioned by the team the
// runtime really grants), or fn(0, 1) on this thread when nt <= 1.
template <class F>
void run_team(int nt, F&& fn) {
#if defined(_OPENMP)
  if (nt > 1) {
#pragma omp parallel num_threads(nt)
    fn(omp_get_thread_num(), omp_get_num_threads());
    return;
  }
#endif
  (void)nt;
  fn(0, 1);
}

template <class T>
void gemm_impl(Problem<T> p, const Config<T>& cfg) {
  if (p.M <= 0 || p.N <= 0) return;
  // A size-1 dimension's stride is meaningless; normalising it lets the
  // checks below pick the fast paths for vectors.
  if (p.N == 1) p.csc = 1;
  if (p.M == 1 && p.csc != 1) p.rsc = 1;
  if (p.N == 1) p.csb = 1;
  // Column-major C: compute C^T = B^T A^T instead, so the kernel's C tile
  // rows are contiguous and it can use vector stores.
  if (p.csc != 1 && p.rsc == 1) {
    std::swap(p.M, p.N);
    std::swap(p.A, p.B);
    const int64_t rsa = p.rsa, csa = p.csa;
    p.rsa = p.csb;
    p.csa = p.rsb;
    p.rsb = csa;
    p.csb = rsa;
    std::swap(p.rsc, p.csc);
  }
  if (p.K <= 0) {
    if (!p.accumulate) {
      for (int64_t i = 0; i < p.M; ++i)
        for (int64_t j = 0; j < p.N; ++j) p.C[i * p.rsc + j * p.csc] = T(0);
    }
    return;
  }

  const int MR = cfg.MR, NR = cfg.NR;
  Schedule s;
  s.nt = choose_threads(p.M, p.N, p.K);
  // Packing B only pays off when each B panel is reused by several A panels;
  // for a few rows (small batches) read row-major B where it lies.
  s.pack_b = !(p.csb == 1 && p.M <= 2 * MR);
  s.mc = std::min<int64_t>(cfg.MC, round_up(p.M, MR));
  s.split_m = false;
  if (s.nt > 1) {
    // Same number of ic blocks per thread, each as large as MC allows.
    const int64_t nblocks = round_up(ceil_div(p.M, cfg.MC), s.nt);
    s.mc = std::min<int64_t>(cfg.MC, round_up(ceil_div(p.M, nblocks), MR));
    s.split_m = ceil_div(p.M, s.mc) >= s.nt;
  }

  auto pad = [](size_t n) { return (n * sizeof(T) + kAlign - 1) / kAlign * kAlign; };
  // Large products (decided by the sizes alone, so that the blocking, and
  // with it every element's summation order, never depends on the thread
  // count): each thread takes its own range of columns and runs the whole
  // loop nest on it with private packing buffers, so no thread ever waits
  // for another (the shared-B schedule below has two barriers per K slice).
  // 1024^2 and 2048^2 on two cores, alternating runs: +1% against the
  // shared schedule, +3.5% with the deeper split blocking. The price: a
  // core taken by another process slows its own half, with no block-stealing
  // to even it out (the load-aware budget still drops to one thread on a
  // busy machine).
  if (p.M >= kSplitNMin && p.K >= kSplitNMin && p.N >= 2 * kSplitNMin) {
    auto run_columns = [&](int tid, int nt) {
      const int64_t panels = ceil_div(p.N, int64_t(NR));
      const int64_t n0 = NR * (panels * tid / nt), n1 = std::min(p.N, NR * (panels * (tid + 1) / nt));
      if (n0 >= n1) return;
      Problem<T> q = p;
      q.N = n1 - n0;
      q.B = p.B + n0 * p.csb;
      q.C = p.C + n0 * p.csc;
      Config<T> deep = cfg;
      deep.MC = cfg.split_MC;
      deep.KC = cfg.split_KC;
      Schedule one = s;
      one.nt = 1;
      one.split_m = false;
      one.mc = std::min<int64_t>(deep.MC, round_up(p.M, MR));
      const int64_t kc = std::min(deep.KC, p.K);
      const size_t qb = pad(static_cast<size_t>(kc * round_up(std::min(deep.NC, q.N), NR)));
      const size_t qa = pad(static_cast<size_t>(round_up(one.mc, MR) * kc));
      const size_t qt = pad(static_cast<size_t>(kc * NR));
      char* mine = static_cast<char*>(tl_pack_buffer.get(qb + qa + qt));
      std::atomic<int64_t> own[2] = {{0}, {0}};
      gemm_thread(q, deep, one, reinterpret_cast<T*>(mine), reinterpret_cast<T*>(mine + qb),
                  reinterpret_cast<T*>(mine + qb + qa), own, 0, 1);
    };
    run_team(s.nt, run_columns);
    return;
  }
  const int64_t kc_max = std::min(cfg.KC, p.K);
  const int64_t nc_max = round_up(std::min(cfg.NC, p.N), NR);
  const size_t b_elems = s.pack_b ? static_cast<size_t>(kc_max * nc_max) : 0;
  const size_t tail_elems = static_cast<size_t>(kc_max * NR);
  const size_t a_elems = static_cast<size_t>(round_up(s.mc, MR) * kc_max);
  // One buffer: [B block | per-thread (A block | B tail panel)].
  const size_t per_thread = pad(a_elems) + pad(tail_elems);
  char* base = static_cast<char*>(tl_pack_buffer.get(pad(b_elems) + per_thread * s.nt));
  T* bpack = reinterpret_cast<T*>(base);
  auto thread_bufs = [&](int tid, T** apack, T** btail) {
    char* t = base + pad(b_elems) + per_thread * tid;
    *apack = reinterpret_cast<T*>(t);
    *btail = reinterpret_cast<T*>(t + pad(a_elems));
  };

  std::atomic<int64_t> claim[2] = {{0}, {0}};  // dynamic block counters, see gemm_thread
  if (s.nt == 1) {
    T *apack, *btail;
    thread_bufs(0, &apack, &btail);
    gemm_thread(p, cfg, s, bpack, apack, btail, claim, 0, 1);
    return;
  }
#if defined(_OPENMP)
#pragma omp parallel num_threads(s.nt)
  {
    // The runtime may grant fewer threads than asked; partition by the real team.
    const int nt = omp_get_num_threads();
    const int tid = omp_get_thread_num();
    T *apack, *btail;
    thread_bufs(tid, &apack, &btail);
    gemm_thread(p, cfg, s, bpack, apack, btail, claim, tid, nt);
  }
#endif
}

// ---------------------------------------------------------------------------
// Implicit-B driver (gemm.h). Loop order, outer to inner: a block of
// kImplicitBlockCols columns, its K slices (as even as possible, each short
// enough for the block to fit kImplicitBBlockBytes), the block's NR panels,
// the MR-row panels of the whole of A. A is packed once per call (all of M and K: a
// convolution's weight, 64x576 floats is 147 KiB, stays in L2); each B block
// is packed by the caller into a per-thread buffer that stays in L1, where
// the kernel reads its NR-wide panels with the block's row stride.

thread_local AlignedBuffer tl_implicit_b_buffer;

constexpr int64_t kImplicitBBlockBytes = 24 * 1024;  // half of a 48 KiB L1d, and most of a 32 KiB one

template <class T>
void gemm_implicit_impl(int64_t M, int64_t N, int64_t K, const T* A, int64_t rsa, int64_t csa, const ImplicitB<T>& B,
                        T* C, int64_t rsc, int64_t seg, int64_t seg_stride, bool accumulate, const T* row_bias,
                        const Config<T>& cfg) {
  if (M <= 0 || N <= 0) return;
  auto at = [&](int64_t i, int64_t j) { return C + (j / seg) * seg_stride + j % seg + i * rsc; };
  if (K <= 0) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        const T bias = row_bias ? row_bias[i] : T(0);
        *at(i, j) = accumulate ? *at(i, j) + bias : bias;
      }
    return;
  }
  const int MR = cfg.MR, NR = cfg.NR;
  const int64_t block_cols = std::max<int64_t>(NR, kImplicitBlockCols / NR * NR);
  // K slices as even as possible, each small enough for its B block to stay in L1.
  const int64_t kc_cap = std::max<int64_t>(16, kImplicitBBlockBytes / (block_cols * int64_t(sizeof(T))));
  const int64_t slices = ceil_div(K, kc_cap), kc_max = ceil_div(K, slices);
  const int64_t m_round = round_up(M, MR);
  // A, slice by slice: slice s starts at apack + k0 * m_round, its MR-row panel ir at + ir * kc.
  T* apack = static_cast<T*>(tl_pack_buffer.get(static_cast<size_t>(m_round * K) * sizeof(T)));
  for (int64_t s = 0; s < slices; ++s) {
    const int64_t k0 = K * s / slices, kc = K * (s + 1) / slices - k0;
    pack_a_block(apack + k0 * m_round, A + k0 * csa, rsa, csa, M, kc, MR);
  }
  const int64_t blocks = ceil_div(N, block_cols);

  auto run_blocks = [&](int tid, int nt) {
    T* bblock = static_cast<T*>(tl_implicit_b_buffer.get(static_cast<size_t>(kc_max * block_cols) * sizeof(T)));
    alignas(64) T tile[8 * 16];  // MR x NR <= 8 x 16 for every configuration
    for (int64_t blk = blocks * tid / nt; blk < blocks * (tid + 1) / nt; ++blk) {
      const int64_t j0 = blk * block_cols, ncols = std::min(block_cols, N - j0);
      for (int64_t s = 0; s < slices; ++s) {
        const int64_t k0 = K * s / slices, kc = K * (s + 1) / slices - k0;
        B.pack(B.ctx, k0, kc, j0, ncols, bblock, block_cols);
        if (ncols % NR) {  // the last panel's unused columns: never stored, but keep them defined
          const int64_t from = ncols, to = round_up(ncols, NR);
          for (int64_t p = 0; p < kc; ++p) std::fill(bblock + p * block_cols + from, bblock + p * block_cols + to, T(0));
        }
        const bool add = accumulate || s > 0;
        const T* bias = s + 1 == slices ? row_bias : nullptr;  // with the last slice
        const T* ablock = apack + k0 * m_round;
        for (int64_t q = 0; q * NR < ncols; ++q) {
          const int64_t j = j0 + q * NR;
          const int nr = static_cast<int>(std::min<int64_t>(NR, ncols - q * NR));
          const T* bp = bblock + q * NR;
          if (j % seg + nr <= seg) {  // the panel lies in one segment: the kernel writes C itself
            T* c = at(0, j);
            for (int64_t ir = 0; ir < M; ir += MR) {
              const int mr = static_cast<int>(std::min<int64_t>(MR, M - ir));
              cfg.kern[mr - 1](kc, ablock + ir * kc, bp, block_cols, c + ir * rsc, rsc, 1, nr, add);
              if (bias)
                for (int i = 0; i < mr; ++i) {
                  T* row = c + (ir + i) * rsc;
                  for (int jj = 0; jj < nr; ++jj) row[jj] += bias[ir + i];
                }
            }
            continue;
          }
          // Across a segment boundary: through a tile, then element by element.
          for (int64_t ir = 0; ir < M; ir += MR) {
            const int mr = static_cast<int>(std::min<int64_t>(MR, M - ir));
            cfg.kern[mr - 1](kc, ablock + ir * kc, bp, block_cols, tile, NR, 1, nr, false);
            for (int jj = 0; jj < nr; ++jj) {
              T* c = at(ir, j + jj);
              for (int i = 0; i < mr; ++i) {
                const T v = bias ? tile[i * NR + jj] + bias[ir + i] : tile[i * NR + jj];
                c[i * rsc] = add ? c[i * rsc] + v : v;
              }
            }
          }
        }
      }
    }
  };
  run_team(static_cast<int>(std::min<int64_t>(choose_threads(M, N, K), blocks)), run_blocks);
}

// ---------------------------------------------------------------------------
// Indexed-B driver (gemm.h): no B packing at all. A is packed once (all of
// M and K); each NR-column panel of C takes its MR-row tiles over the whole
// of K in one pass, the kernel reading B's rows where they lie.

template <class T>
void gemm_indexed_impl(int64_t M, int64_t N, int64_t K, const T* A, int64_t rsa, int64_t csa, const T* base,
                       const int32_t* offs, T* C, int64_t rsc, const Config<T>& cfg) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int64_t i = 0; i < M; ++i) std::fill(C + i * rsc, C + i * rsc + N, T(0));
    return;
  }
  const int MR = cfg.MR, NR = cfg.NR;
  T* apack = static_cast<T*>(tl_pack_buffer.get(static_cast<size_t>(round_up(M, MR) * K) * sizeof(T)));
  pack_a_block(apack, A, rsa, csa, M, K, MR);
  const int64_t panels = ceil_div(N, int64_t(NR));
  auto run_panels = [&](int tid, int nt) {
    for (int64_t q = panels * tid / nt; q < panels * (tid + 1) / nt; ++q) {
      const int nr = static_cast<int>(std::min<int64_t>(NR, N - q * NR));
      for (int64_t ir = 0; ir < M; ir += MR) {
        const int mr = static_cast<int>(std::min<int64_t>(MR, M - ir));
        cfg.kern_indexed[mr - 1](K, apack + ir * K, base + q * NR, offs, C + ir * rsc + q * NR, rsc, 1, nr, false);
      }
    }
  };
  run_team(static_cast<int>(std::min<int64_t>(choose_threads(M, N, K), panels)), run_panels);
}

}  // namespace

void gemm_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsa, int64_t csa,
              const float* B, int64_t rsb, int64_t csb, float* C, int64_t rsc, int64_t csc,
              bool accumulate) {
  gemm_impl<float>({M, N, K, A, rsa, csa, B, rsb, csb, C, rsc, csc, accumulate}, config_f32());
}

void gemm_f64(int64_t M, int64_t N, int64_t K, const double* A, int64_t rsa, int64_t csa,
              const double* B, int64_t rsb, int64_t csb, double* C, int64_t rsc, int64_t csc,
              bool accumulate) {
  gemm_impl<double>({M, N, K, A, rsa, csa, B, rsb, csb, C, rsc, csc, accumulate}, config_f64());
}

void gemm_implicit_b_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsa, int64_t csa,
                         const ImplicitB<float>& B, float* C, int64_t rsc, int64_t seg, int64_t seg_stride,
                         bool accumulate, const float* row_bias) {
  gemm_implicit_impl<float>(M, N, K, A, rsa, csa, B, C, rsc, seg, seg_stride, accumulate, row_bias, config_f32());
}

void gemm_implicit_b_f64(int64_t M, int64_t N, int64_t K, const double* A, int64_t rsa, int64_t csa,
                         const ImplicitB<double>& B, double* C, int64_t rsc, int64_t seg, int64_t seg_stride,
                         bool accumulate, const double* row_bias) {
  gemm_implicit_impl<double>(M, N, K, A, rsa, csa, B, C, rsc, seg, seg_stride, accumulate, row_bias, config_f64());
}

void gemm_indexed_b_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsa, int64_t csa, const float* base,
                        const int32_t* offs, float* C, int64_t rsc) {
  gemm_indexed_impl<float>(M, N, K, A, rsa, csa, base, offs, C, rsc, config_f32());
}

void gemm_indexed_b_f64(int64_t M, int64_t N, int64_t K, const double* A, int64_t rsa, int64_t csa,
                        const double* base, const int32_t* offs, double* C, int64_t rsc) {
  gemm_indexed_impl<double>(M, N, K, A, rsa, csa, base, offs, C, rsc, config_f64());
}

int64_t gemm_indexed_b_overread() { return 16; }

const char* gemm_kernel_name() { return choose_kernel() == 2 ? "avx2" : "generic"; }

bool gemm_select_kernel(const char* name) {
  int k;
  if (std::strcmp(name, "generic") == 0) {
    k = 1;
  } else if (std::strcmp(name, "avx2") == 0) {
    if (!cpu_has_avx2_fma()) return false;
    k = 2;
  } else if (std::strcmp(name, "auto") == 0) {
    k = cpu_use_avx2() ? 2 : 1;
  } else {
    return false;
  }
  g_kernel_choice.store(k, std::memory_order_release);
  return true;
}

}  // namespace ember::cpu
