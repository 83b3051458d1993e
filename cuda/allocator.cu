// The caching device allocator. cudaMalloc/cudaFree synchronize the device
// and cost tens of microseconds, so freed blocks are kept per device in size
// classes and handed out again. All kernels run on the legacy default stream,
// so a block freed after enqueuing kernels that use it can be reused by later
// work on the same stream without waiting: reuse is stream-ordered.
//
// Size classes: requests round up to 512 bytes below 1 MiB, and above that to
// one of four steps per power of two (2^k, 1.25, 1.5, 1.75 x 2^k), so no
// more than 25% is wasted and blocks of one class are interchangeable.
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda/common.cuh"

namespace ember {
namespace cuda {

size_t size_class(size_t n) {
  if (n == 0) return 0;
  if (n <= (size_t(1) << 20)) return (n + 511) & ~size_t(511);
  int k = 63 - __builtin_clzll(n);  // 2^k <= n < 2^(k+1)
  size_t quarter = size_t(1) << (k - 2);
  return ((n + quarter - 1) / quarter) * quarter;
}

namespace {

struct DeviceCache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // class -> blocks
  std::unordered_map<void*, size_t> live;                      // block -> class
  size_t allocated = 0;  // bytes in live blocks
  size_t peak = 0;
  size_t cached = 0;  // bytes in free_blocks
};

constexpr int kMaxDevices = 64;
DeviceCache* g_caches[kMaxDevices] = {};
std::mutex g_caches_mu;

DeviceCache& cache(int device) {
  EMBER_CHECK(device >= 0 && device < kMaxDevices, Error, "invalid CUDA device index ", device);
  std::lock_guard<std::mutex> lock(g_caches_mu);
  // Never destroyed: tensors may be freed during interpreter shutdown.
  if (!g_caches[device]) g_caches[device] = new DeviceCache();
  return *g_caches[device];
}

// Frees every cached block of one device; the caller holds c.mu and has the
// device current.
void release_cached(DeviceCache& c) {
  for (auto& kv : c.free_blocks)
    for (void* p : kv.second) cudaFree(p);
  c.free_blocks.clear();
  c.cached = 0;
}

}  // namespace

void* allocator_allocate(size_t nbytes, int device) {
  if (nbytes == 0) return nullptr;
  check_index(device);  // before a cache exists for it: empty_cache() visits every cache
  const size_t cls = size_class(nbytes);
  DeviceCache& c = cache(device);
  std::lock_guard<std::mutex> lock(c.mu);
  void* p = nullptr;
  auto it = c.free_blocks.find(cls);
  if (it != c.free_blocks.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    c.cached -= cls;
  } else {
    DeviceGuard guard(device);
    cudaError_t err = cudaMalloc(&p, cls);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // clear it, then retry with the cache emptied
      release_cached(c);
      err = cudaMalloc(&p, cls);
    }
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      throw OutOfMemoryError(str("CUDA out of memory on cuda:", device, ": tried to allocate ", nbytes,
                                 " bytes (", cls, " with rounding); ", c.allocated,
                                 " bytes allocated by ember, ", free_b, " bytes free of ", total_b,
                                 " total. Free tensors or call ember.cuda.empty_cache()."));
    }
    if (err != cudaSuccess) throw_cuda_error(err, "cudaMalloc", __FILE__, __LINE__);
  }
  c.live[p] = cls;
  c.allocated += cls;
  if (c.allocated > c.peak) c.peak = c.allocated;
  return p;
}

// Never throws: runs from Storage destructors, possibly during shutdown.
void allocator_deallocate(void* ptr, int device) {
  if (!ptr || device < 0 || device >= kMaxDevices) return;
  DeviceCache& c = cache(device);
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.live.find(ptr);
  if (it == c.live.end()) return;  // not ours
  const size_t cls = it->second;
  c.live.erase(it);
  c.allocated -= cls;
  c.free_blocks[cls].push_back(ptr);
  c.cached += cls;
}

size_t allocator_allocated(int device) {
  if (device < 0 || device >= kMaxDevices) return 0;
  DeviceCache& c = cache(device);
  std::lock_guard<std::mutex> lock(c.mu);
  return c.allocated;
}
size_t allocator_peak(int device) {
  if (device < 0 || device >= kMaxDevices) return 0;
  DeviceCache& c = cache(device);
  std::lock_guard<std::mutex> lock(c.mu);
  return c.peak;
}
void allocator_empty_cache() {
  for (int d = 0; d < kMaxDevices; ++d) {
    DeviceCache* c;
    {
      std::lock_guard<std::mutex> lock(g_caches_mu);
      c = g_caches[d];
    }
    if (!c) continue;
    std::lock_guard<std::mutex> lock(c->mu);
    DeviceGuard guard(d);
    release_cached(*c);
  }
}

Workspace::Workspace(size_t n, int dev) : ptr(allocator_allocate(n, dev)), nbytes(n), device(dev) {}
Workspace::~Workspace() { allocator_deallocate(ptr, device); }

}  // namespace cuda
}  // namespace ember
