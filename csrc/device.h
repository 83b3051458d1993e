// Where a tensor's storage lives: the CPU or one CUDA device.
#pragma once
#include <string>

namespace ember {

enum class DeviceType : unsigned char { CPU = 0, CUDA = 1 };
constexpr int kNumDeviceTypes = 2;

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;  // always 0 for the CPU
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  std::string str() const;  // "cpu", "cuda:0"
};

// Parses "cpu", "cuda", "cuda:1" (index -1 in `explicit_index` when absent).
Device parse_device(const std::string& spec, bool* has_index = nullptr);

}  // namespace ember
