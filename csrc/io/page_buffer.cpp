// Large host buffers with huge pages and reuse (see page_buffer.h).
#include "page_buffer.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <utility>

#include "../error.h"

namespace ember::io {

namespace {

#if defined(EMBER_SANITIZE)
constexpr bool kKeepIdle = false;
#else
constexpr bool kKeepIdle = true;
#endif

// Freed large buffers by capacity. A request takes the smallest one that
// fits and is at most twice its size (so a small request never pins a huge
// buffer); the oldest-freed are not tracked: the cap bounds what is kept.
class IdleBuffers {
 public:
  static IdleBuffers& instance() {
    static IdleBuffers* idle = new IdleBuffers();  // leaked: storages may die at exit
    return *idle;
  }

  void* take(size_t capacity, size_t* got) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = idle_.lower_bound(capacity);
    if (it == idle_.end() || it->first > 2 * capacity) return nullptr;
    void* p = it->second;
    *got = it->first;
    idle_bytes_ -= it->first;
    idle_.erase(it);
    return p;
  }

  bool put(void* p, size_t capacity) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (idle_bytes_ + capacity > kMaxIdleBytes) return false;
    idle_.emplace(capacity, p);
    idle_bytes_ += capacity;
    return true;
  }

 private:
  std::mutex mutex_;
  std::multimap<size_t, void*> idle_;
  size_t idle_bytes_ = 0;
};

}  // namespace

PageBuffer::PageBuffer(size_t size) : size_(size) {
  if (size < kHugePageBytes) {
    capacity_ = size ? size : 1;
    data_ = static_cast<char*>(std::malloc(capacity_));
    if (!data_) throw OutOfMemoryError(str("CPU out of memory: failed to allocate ", size, " bytes"));
    return;
  }
  const size_t capacity = (size + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
  if (kKeepIdle) {
    size_t got = 0;
    if (void* p = IdleBuffers::instance().take(capacity, &got)) {
      data_ = static_cast<char*>(p);
      capacity_ = got;
      return;
    }
  }
  data_ = static_cast<char*>(std::aligned_alloc(kHugePageBytes, capacity));
  if (!data_) throw OutOfMemoryError(str("CPU out of memory: failed to allocate ", size, " bytes"));
  capacity_ = capacity;
  // No MADV_HUGEPAGE: with this kernel's defrag=madvise policy an advised
  // region compacts memory on its first faults, and a second 100 MB load
  // while the first was alive took 225-290 ms instead of ~60 ms.
}

PageBuffer::PageBuffer(PageBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      capacity_(std::exchange(o.capacity_, 0)) {}

PageBuffer& PageBuffer::operator=(PageBuffer&& o) noexcept {
  if (this != &o) {
    release();
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    capacity_ = std::exchange(o.capacity_, 0);
  }
  return *this;
}

PageBuffer::~PageBuffer() { release(); }

void PageBuffer::release() {
  if (!data_) return;
  if (!(kKeepIdle && capacity_ >= kHugePageBytes && IdleBuffers::instance().put(data_, capacity_))) std::free(data_);
  data_ = nullptr;
}

std::shared_ptr<Storage> allocate_host_storage(size_t nbytes) {
  if (nbytes < kHugePageBytes) return allocate_storage(nbytes, Device{});
  auto buffer = std::make_shared<PageBuffer>(nbytes);
  char* data = buffer->data();
  return borrow_storage(data, nbytes, Device{}, [buffer](void*) mutable { buffer.reset(); });
}

}  // namespace ember::io
