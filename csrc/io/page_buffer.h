// Large host buffers for checkpoint I/O, backed by transparent huge pages.
//
// A 100 MB load or snapshot touches 25,000 fresh 4 KiB pages; on a virtual
// machine each first touch is a fault costing about a microsecond, a large
// share of a ~20 ms copy. Buffers from kHugePageBytes up are mapped
// 2 MiB-aligned and advised MADV_HUGEPAGE, so the kernel can back them with
// 50 huge pages instead. Smaller ones come from the CPU allocator. In
// sanitizer builds (EMBER_SANITIZE) every buffer comes from malloc, so that
// AddressSanitizer sees overflows of it.
#pragma once
#include <cstddef>
#include <memory>

#include "../storage.h"

namespace ember::io {

constexpr size_t kHugePageBytes = size_t(2) << 20;

// Owns `size` bytes of writable host memory (contents undefined).
class PageBuffer {
 public:
  PageBuffer() = default;
  explicit PageBuffer(size_t size);
  PageBuffer(PageBuffer&& o) noexcept;
  PageBuffer& operator=(PageBuffer&& o) noexcept;
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;
  ~PageBuffer();

  char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void release();
  char* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;  // bytes mapped with mmap (0: the memory came from malloc)
};

// A CPU storage of `nbytes` bytes (contents undefined) backed by a
// PageBuffer: what loaded tensors own.
std::shared_ptr<Storage> allocate_host_storage(size_t nbytes);

}  // namespace ember::io
