// CPU allocation with a small-block cache. A training step allocates and
// frees the same few hundred buffer sizes every iteration; handing those to
// glibc each time (free, chunk consolidation, malloc) was ~20% of a small
// MLP step in perf. Blocks up to 1 MiB are rounded to a power of two and kept
// on a per-size free list (bounded in total), larger ones go straight to the
// system, so big tensors are returned to the OS as before.
#include "allocator_cpu.h"

#include <cstdlib>
#include <mutex>
#include <vector>

#include "../error.h"

namespace ember::cpu {

namespace {

constexpr size_t kAlign = 64;              // cache lines, aligned AVX loads
constexpr int kMinShift = 6;               // 64 B
constexpr int kMaxShift = 20;              // 1 MiB
constexpr size_t kMaxCachedBytes = 64u << 20;  // bound on memory held idle

int size_class(size_t nbytes) {
  int shift = kMinShift;
  while ((size_t(1) << shift) < nbytes) ++shift;
  return shift;
}

void* system_allocate(size_t nbytes) {
  size_t rounded = (nbytes + kAlign - 1) & ~(kAlign - 1);
  void* p = std::aligned_alloc(kAlign, rounded);
  if (!p) throw OutOfMemoryError(str("CPU out of memory: failed to allocate ", nbytes, " bytes"));
  return p;
}

struct BlockCache {
  std::mutex mutex;
  std::vector<void*> free_blocks[kMaxShift + 1];
  size_t cached_bytes = 0;

  // Leaked on purpose: tensors may still be freed during interpreter exit.
  static BlockCache& instance() {
    static BlockCache* cache = new BlockCache();
    return *cache;
  }
};

}  // namespace

// Sanitizer builds bypass the cache: a block recycled to a new tensor would
// hide a use after free of the old one from AddressSanitizer.
#if defined(EMBER_SANITIZE)
constexpr bool kCacheBlocks = false;
#else
constexpr bool kCacheBlocks = true;
#endif

void* allocate(size_t nbytes) {
  if (!kCacheBlocks || nbytes > (size_t(1) << kMaxShift)) return system_allocate(nbytes);
  int c = size_class(nbytes);
  BlockCache& cache = BlockCache::instance();
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    auto& list = cache.free_blocks[c];
    if (!list.empty()) {
      void* p = list.back();
      list.pop_back();
      cache.cached_bytes -= size_t(1) << c;
      return p;
    }
  }
  return system_allocate(size_t(1) << c);
}

void deallocate(void* ptr, size_t nbytes) {
  if (!kCacheBlocks || nbytes > (size_t(1) << kMaxShift)) {
    std::free(ptr);
    return;
  }
  int c = size_class(nbytes);
  BlockCache& cache = BlockCache::instance();
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    if (cache.cached_bytes + (size_t(1) << c) <= kMaxCachedBytes) {
      cache.free_blocks[c].push_back(ptr);
      cache.cached_bytes += size_t(1) << c;
      return;
    }
  }
  std::free(ptr);
}

}  // namespace ember::cpu
