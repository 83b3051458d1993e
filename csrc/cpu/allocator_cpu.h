// Host memory for CPU tensors: 64-byte aligned, with small blocks recycled.
#pragma once
#include <cstddef>

namespace ember::cpu {

// Never returns null: throws OutOfMemoryError.
void* allocate(size_t nbytes);
// `nbytes` must be the size passed to allocate().
void deallocate(void* ptr, size_t nbytes);

}  // namespace ember::cpu
