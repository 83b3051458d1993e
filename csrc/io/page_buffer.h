// Large host buffers for checkpoint I/O: loaded tensors' storages and
// background-save snapshots.
//
// On the virtual machines ember is measured on, the first touch of fresh
// memory dominates a checkpoint's cost: faulting in 100 MB took 50-550 ms
// (by the host's load), while copying 100 MB into memory already mapped
// took 10-15 ms. So freed buffers of kHugePageBytes and more are kept
// (kMaxIdleBytes in all) for the next load or snapshot of a similar size,
// as glibc's heap does for smaller blocks; their capacity is rounded to
// 2 MiB so that similar sizes share them. (Advising huge pages was tried
// and dropped: see page_buffer.cpp.) Smaller buffers come from malloc. Sanitizer builds (EMBER_SANITIZE) keep nothing, so that ASan sees
// a use after free of a loaded tensor's memory.
#pragma once
#include <cstddef>
#include <memory>

#include "../storage.h"

namespace ember::io {

constexpr size_t kHugePageBytes = size_t(2) << 20;
constexpr size_t kMaxIdleBytes = size_t(512) << 20;

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
  size_t capacity_ = 0;  // bytes allocated (a multiple of kHugePageBytes for large buffers)
};

// A CPU storage of `nbytes` bytes (contents undefined) backed by a
// PageBuffer: what loaded tensors own.
std::shared_ptr<Storage> allocate_host_storage(size_t nbytes);

}  // namespace ember::io
