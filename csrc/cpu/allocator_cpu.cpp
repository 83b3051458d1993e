// CPU allocation with a small-block cache. A training step allocates and
// frees the same few hundred buffer sizes every iteration; handing those to
// glibc each time (free, chunk consolidation, malloc) was ~20% of a small
// MLP step in perf. Blocks up to 1 MiB are rounded to a power of two and kept
// on a per-size free list (bounded in total), larger ones go straight to the
// system, so big tensors are returned to the OS as before.
#include "allocator_cpu.h"

#include <pthread.h>

#include <cstdlib>
#include <mutex>
#include <new>
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

void* allocate(size_t nbytes) {
  if (nbytes > (size_t(1) << kMaxShift)) return system_allocate(nbytes);
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
  if (nbytes > (size_t(1) << kMaxShift)) {
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
