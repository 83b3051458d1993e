// CPU allocation with a small-block cache. A training step allocates and
// frees the same few hundred buffer sizes every iteration; handing those to
// glibc each time (free, chunk consolidation, malloc) was ~20% of a small
// MLP step in perf. Blocks up to 1 MiB are rounded to a power of two and kept
// on a per-size free list (bounded in total). Larger blocks are rounded to
// 64 KiB and kept by exact size, up to 256 MiB in all: a convolutional
// network frees and reallocates multi-megabyte activations every step, and
// each fresh block cost a page fault per 4 KiB (filling LeNet's 4.8 MB first
// activation took 0.9 ms against PyTorch's 0.2). Beyond the bound, blocks
// go back to the system.
//
// Buffers of 4 MiB and more are 2 MiB-aligned and marked for transparent
// huge pages (where the kernel only grants them on request, "madvise"
// mode): the first write to a fresh buffer then faults once per 2 MiB
// instead of once per 4 KiB. On the development VM, first-touching 51 MB
// (a [256, 64, 28, 28] float32 activation) took 109 ms in 4 KiB pages and
// 14 ms in huge pages, so every large op's output cost more to fault in
// than to compute.
#include "allocator_cpu.h"

#include <pthread.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "../error.h"
#include "../ops/ops.h"

namespace ember::cpu {

namespace {

constexpr size_t kAlign = 64;              // cache lines, aligned AVX loads
constexpr int kMinShift = 6;               // 64 B
constexpr int kMaxShift = 20;              // 1 MiB
constexpr size_t kMaxCachedBytes = 64u << 20;  // bound on small blocks held idle
constexpr size_t kLargeGranule = 64u << 10;
constexpr size_t kMaxCachedLargeBytes = 256u << 20;  // bound on large blocks held idle

size_t large_size(size_t nbytes) { return (nbytes + kLargeGranule - 1) & ~(kLargeGranule - 1); }

int size_class(size_t nbytes) {
  int shift = kMinShift;
  while ((size_t(1) << shift) < nbytes) ++shift;
  return shift;
}

constexpr size_t kHugePage = size_t(2) << 20;
constexpr size_t kHugePageThreshold = size_t(4) << 20;

void* system_allocate(size_t nbytes) {
  const size_t align = nbytes >= kHugePageThreshold ? kHugePage : kAlign;
  size_t rounded = (nbytes + align - 1) & ~(align - 1);
  void* p = std::aligned_alloc(align, rounded);
  if (!p) throw OutOfMemoryError(str("CPU out of memory: failed to allocate ", nbytes, " bytes"));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Advice only: a kernel without transparent huge pages refuses it harmlessly.
  if (align == kHugePage) madvise(p, rounded, MADV_HUGEPAGE);
#endif
  return p;
}

struct BlockCache {
  std::mutex mutex;
  std::vector<void*> free_blocks[kMaxShift + 1];
  size_t cached_bytes = 0;
  std::unordered_map<size_t, std::vector<void*>> free_large;  // by rounded size
  size_t cached_large_bytes = 0;

  // Leaked on purpose: tensors may still be freed during interpreter exit.
  static BlockCache& instance() {
    static BlockCache* cache = create();
    return *cache;
  }

 private:
  static BlockCache* create() {
    BlockCache* cache = new BlockCache();
    pthread_atfork(nullptr, nullptr, reset_lock_in_forked_child);
    return cache;
  }

  // fork() copies the lock as it was: held, if another thread was inside
  // allocate() at that moment, by a thread the child does not have. The
  // child is single-threaded when this runs, so a fresh lock is correct;
  // the free lists themselves are consistent (every change happens under
  // the lock, and the forking thread was not inside one).
  static void reset_lock_in_forked_child() { new (&instance().mutex) std::mutex(); }
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
  if (!kCacheBlocks) return system_allocate(nbytes);
  BlockCache& cache = BlockCache::instance();
  if (nbytes > (size_t(1) << kMaxShift)) {
    const size_t size = large_size(nbytes);
    {
      std::lock_guard<std::mutex> lock(cache.mutex);
      auto it = cache.free_large.find(size);
      if (it != cache.free_large.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cache.cached_large_bytes -= size;
        return p;
      }
      // A miss while much is held means the sizes in use changed (another
      // model, another batch size): drop the stale blocks rather than keep
      // them idle until the process ends.
      if (cache.cached_large_bytes >= kMaxCachedLargeBytes / 2) {
        for (auto& entry : cache.free_large)
          for (void* q : entry.second) std::free(q);
        cache.free_large.clear();
        cache.cached_large_bytes = 0;
      }
    }
    return system_allocate(size);
  }
  int c = size_class(nbytes);
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
  if (!kCacheBlocks) {
    std::free(ptr);
    return;
  }
  BlockCache& cache = BlockCache::instance();
  if (nbytes > (size_t(1) << kMaxShift)) {
    const size_t size = large_size(nbytes);
    {
      std::lock_guard<std::mutex> lock(cache.mutex);
      if (cache.cached_large_bytes + size <= kMaxCachedLargeBytes) {
        cache.free_large[size].push_back(ptr);
        cache.cached_large_bytes += size;
        return;
      }
    }
    std::free(ptr);
    return;
  }
  int c = size_class(nbytes);
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

namespace ember {

void empty_cpu_cache() {
  cpu::BlockCache& cache = cpu::BlockCache::instance();
  std::lock_guard<std::mutex> lock(cache.mutex);
  for (auto& list : cache.free_blocks) {
    for (void* p : list) std::free(p);
    list.clear();
  }
  cache.cached_bytes = 0;
  for (auto& entry : cache.free_large)
    for (void* p : entry.second) std::free(p);
  cache.free_large.clear();
  cache.cached_large_bytes = 0;
}

}  // namespace ember
