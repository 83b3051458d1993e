// Letting other Python threads run while a kernel does. The op bindings
// release the GIL around core calls whose work is large enough (from
// kReleaseGilElements elements in an operand) that another thread can use
// the time; small ops keep it, since releasing and re-taking it costs about
// as much as a tenth of such an op.
//
// Safe because the core never touches Python objects: arguments are
// converted to C++ tensors (shared pointers, held by the caller for the
// whole call) before the release and results converted back after it, and
// memory borrowed from numpy takes the GIL itself when it is freed.
#pragma once
#include <pybind11/pybind11.h>

#include <optional>

#include "csrc/tensor.h"

namespace ember::bind {

constexpr int64_t kReleaseGilElements = 16384;

inline bool is_large(const Tensor& t) { return t && t->numel() >= kReleaseGilElements; }
template <typename... T>
bool any_large(const T&... t) {
  return (is_large(t) || ...);
}

// Releases the GIL for its scope when `release` is true.
class ReleaseGilIf {
 public:
  explicit ReleaseGilIf(bool release) {
    if (release) released_.emplace();
  }

 private:
  std::optional<pybind11::gil_scoped_release> released_;
};

}  // namespace ember::bind
