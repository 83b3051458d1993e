#include "device.h"

#include <cctype>

#include "error.h"

namespace ember {

std::string Device::str() const { return type == DeviceType::CPU ? "cpu" : "cuda:" + std::to_string(index); }

Device parse_device(const std::string& spec, bool* has_index) {
  std::string kind = spec;
  int index = 0;
  bool explicit_index = false;
  auto colon = spec.find(':');
  if (colon != std::string::npos) {
    kind = spec.substr(0, colon);
    std::string digits = spec.substr(colon + 1);
    bool ok = !digits.empty() && digits.size() < 6;
    for (char c : digits) ok = ok && std::isdigit(static_cast<unsigned char>(c));
    EMBER_CHECK(ok, Error, "Invalid device string: '", spec, "'");
    index = std::stoi(digits);
    explicit_index = true;
  }
  if (has_index) *has_index = explicit_index;
  if (kind == "cpu") {
    EMBER_CHECK(index == 0, Error, "CPU device index must be 0, got '", spec, "'");
    return Device{DeviceType::CPU, 0};
  }
  if (kind == "cuda") return Device{DeviceType::CUDA, index};
  throw Error(str("Expected one of cpu, cuda device type at start of device string: ", spec));
}

}  // namespace ember
