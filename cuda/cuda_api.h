// What the CUDA backend offers the rest of ember. Plain C++ (no CUDA headers):
// the bindings and the core include it, and both the real backend (the .cu
// files here) and the no-CUDA stub (stub.cpp) implement it.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ember {

// Called once by the Python module at import. Registers the CUDA backend with
// the core's table when ember was built with CUDA and a device is visible;
// otherwise records why 'cuda' is unavailable (the message backend() throws)
// and returns false.
bool register_cuda_backend();

bool cuda_is_built();
int cuda_device_count();  // 0 without a driver or device; never throws
int cuda_current_device();
void cuda_set_device(int device);
void cuda_synchronize(int device);  // device < 0: the current device
// Bytes held by live tensors (rounded to the allocator's size classes), and
// the peak since start-up.
size_t cuda_memory_allocated(int device);
size_t cuda_max_memory_allocated(int device);
// Returns cached, unused blocks to the driver on every device.
void cuda_empty_cache();
// "NVIDIA H100 80GB HBM3"; throws for a bad index.
const char* cuda_get_device_name(int device);
// DLPack's stream ordering: makes the consumer's CUDA stream (a cudaStream_t
// passed as an integer; 1 and 2 name the legacy and per-thread default
// streams) wait for the work ember has queued on `device` so far.
void cuda_order_stream_after_ember(int device, uintptr_t stream);

}  // namespace ember
