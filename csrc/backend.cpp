// The dispatch table: one Backend per device type, filled in init_backends().
#include "backend.h"

#include <mutex>
#include <string>

#include "error.h"

namespace ember {

Backend* make_cpu_backend();  // cpu/backend_cpu.cpp

namespace {
Backend* g_backends[kNumDeviceTypes] = {nullptr, nullptr};
std::string g_missing[kNumDeviceTypes] = {"no CPU backend registered",
                                          "ember was built without CUDA: rebuild with nvcc available to use 'cuda' devices"};
std::once_flag g_init_once;
}  // namespace

void register_backend(DeviceType type, Backend* b) { g_backends[static_cast<int>(type)] = b; }

void set_missing_backend_message(DeviceType type, const std::string& message) {
  g_missing[static_cast<int>(type)] = message;
}

void init_backends() {
  std::call_once(g_init_once, [] { register_backend(DeviceType::CPU, make_cpu_backend()); });
}

Backend& backend(DeviceType type) {
  Backend* b = g_backends[static_cast<int>(type)];
  if (!b) {
    init_backends();
    b = g_backends[static_cast<int>(type)];
  }
  if (!b) throw Error(g_missing[static_cast<int>(type)]);
  return *b;
}

}  // namespace ember
