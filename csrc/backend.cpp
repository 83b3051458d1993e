// The dispatch table: one Backend per device type, filled in init_backends().
#include "backend.h"

#include <mutex>

#include "error.h"

namespace ember {

Backend* make_cpu_backend();  // cpu/backend_cpu.cpp

namespace {
Backend* g_backends[kNumDeviceTypes] = {nullptr, nullptr};
std::once_flag g_init_once;
}  // namespace

void register_backend(DeviceType type, Backend* b) { g_backends[static_cast<int>(type)] = b; }

void init_backends() {
  std::call_once(g_init_once, [] {
    register_backend(DeviceType::CPU, make_cpu_backend());
    register_cuda_backend();
  });
}

Backend& backend(DeviceType type) {
  Backend* b = g_backends[static_cast<int>(type)];
  if (!b) {
    init_backends();
    b = g_backends[static_cast<int>(type)];
  }
  if (!b) {
    if (type == DeviceType::CUDA) {
      if (!cuda_is_built())
        throw Error("ember was built without CUDA: rebuild with nvcc available (EMBER_CUDA=ON) to use 'cuda' devices");
      throw Error("no CUDA device is available: ember.cuda.is_available() is False on this machine");
    }
    throw Error("no backend registered for this device");
  }
  return *b;
}

}  // namespace ember
