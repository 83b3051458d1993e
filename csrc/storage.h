// Refcounted, aligned memory owned by one device. Views share a Storage.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>

#include "device.h"

namespace ember {

struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  Device device;
  // Releases `data`: the device allocator by default, or whatever owns
  // borrowed memory (a numpy array, a memory-mapped file).
  std::function<void(void*)> release;

  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (release) release(data);
  }
};

// New storage from the device's allocator (64-byte aligned on the CPU).
std::shared_ptr<Storage> allocate_storage(size_t nbytes, Device device);
// Wraps memory owned elsewhere; `release` runs when the last view dies.
std::shared_ptr<Storage> borrow_storage(void* data, size_t nbytes, Device device,
                                        std::function<void(void*)> release);

}  // namespace ember
