// The CUDA API when ember is built without nvcc: nothing is available, and
// asking for a device says why. Compiles with no CUDA toolkit at all.
#include <cstddef>

#include "csrc/backend.h"
#include "csrc/error.h"
#include "cuda/cuda_api.h"

namespace ember {

namespace {
const char* kNotBuilt =
    "ember was built without CUDA: rebuild with nvcc available (EMBER_CUDA=ON) to use 'cuda' devices";
}

bool register_cuda_backend() {
  set_missing_backend_message(DeviceType::CUDA, kNotBuilt);
  return false;
}
bool cuda_is_built() { return false; }
int cuda_device_count() { return 0; }
int cuda_current_device() { throw Error(kNotBuilt); }
void cuda_set_device(int) { throw Error(kNotBuilt); }
void cuda_synchronize(int) { throw Error(kNotBuilt); }
size_t cuda_memory_allocated(int) { return 0; }
size_t cuda_max_memory_allocated(int) { return 0; }
void cuda_empty_cache() {}
const char* cuda_get_device_name(int) { throw Error(kNotBuilt); }
void cuda_order_stream_after_ember(int, uintptr_t) { throw Error(kNotBuilt); }

}  // namespace ember
