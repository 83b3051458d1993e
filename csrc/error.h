// Exception types of the core. Each maps to one Python exception class in the
// bindings (src/module.cpp), so that ember raises what PyTorch raises.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace ember {

// RuntimeError: the default for shape, device and autograd problems.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct IndexError : Error {
  using Error::Error;
};
struct TypeError : Error {
  using Error::Error;
};
struct ValueError : Error {
  using Error::Error;
};
struct NotImplementedError : Error {
  using Error::Error;
};
// Raised for malformed or hostile checkpoint files (ember.CheckpointError).
struct CheckpointError : Error {
  using Error::Error;
};
// Raised when a device runs out of memory (a RuntimeError subclass in Python).
struct OutOfMemoryError : Error {
  using Error::Error;
};

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& os, const T& first, const Rest&... rest) {
  os << first;
  append(os, rest...);
}
}  // namespace detail

// Builds a message from pieces: str("expected ", n, " dims").
template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  return os.str();
}

}  // namespace ember

// EMBER_CHECK(cond, ErrorType, pieces...): throws ErrorType(str(pieces...)).
#define EMBER_CHECK(cond, ErrorType, ...)                 \
  do {                                                    \
    if (!(cond)) throw ::ember::ErrorType(::ember::str(__VA_ARGS__)); \
  } while (0)
