// Huge-page-backed host buffers (see page_buffer.h).
#include "page_buffer.h"

#include <sys/mman.h>

#include <cstdlib>
#include <utility>

#include "../error.h"

namespace ember::io {

namespace {

#if defined(EMBER_SANITIZE)
constexpr bool kUseMappings = false;
#else
constexpr bool kUseMappings = true;
#endif

}  // namespace

PageBuffer::PageBuffer(size_t size) : size_(size) {
  if (kUseMappings && size >= kHugePageBytes) {
    // Map whole huge pages, over-mapped by one so that the start can be
    // aligned to one, then give the unaligned head and tail back.
    const size_t mapped = (size + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
    const size_t span = mapped + kHugePageBytes;
    void* p = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw OutOfMemoryError(str("CPU out of memory: failed to map ", size, " bytes"));
    const uintptr_t base = reinterpret_cast<uintptr_t>(p);
    const uintptr_t aligned = (base + kHugePageBytes - 1) & ~uintptr_t(kHugePageBytes - 1);
    const size_t head = aligned - base;
    if (head) ::munmap(p, head);
    if (span - head > mapped) ::munmap(reinterpret_cast<void*>(aligned + mapped), span - head - mapped);
#ifdef MADV_HUGEPAGE
    ::madvise(reinterpret_cast<void*>(aligned), mapped, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
    data_ = reinterpret_cast<char*>(aligned);
    mapped_ = mapped;
    return;
  }
  data_ = static_cast<char*>(std::malloc(size ? size : 1));
  if (!data_) throw OutOfMemoryError(str("CPU out of memory: failed to allocate ", size, " bytes"));
}

PageBuffer::PageBuffer(PageBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), mapped_(std::exchange(o.mapped_, 0)) {}

PageBuffer& PageBuffer::operator=(PageBuffer&& o) noexcept {
  if (this != &o) {
    release();
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    mapped_ = std::exchange(o.mapped_, 0);
  }
  return *this;
}

PageBuffer::~PageBuffer() { release(); }

void PageBuffer::release() {
  if (!data_) return;
  if (mapped_) ::munmap(data_, mapped_);
  else std::free(data_);
  data_ = nullptr;
}

std::shared_ptr<Storage> allocate_host_storage(size_t nbytes) {
  if (!kUseMappings || nbytes < kHugePageBytes) return allocate_storage(nbytes, Device{});
  auto buffer = std::make_shared<PageBuffer>(nbytes);
  char* data = buffer->data();
  return borrow_storage(data, nbytes, Device{}, [buffer](void*) mutable { buffer.reset(); });
}

}  // namespace ember::io
