// libFuzzer target: ember's strict JSON reader (csrc/io/json.h).
// Property: every input either parses or raises CheckpointError, and what
// parses survives a write/read round trip unchanged.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "csrc/error.h"
#include "csrc/io/json.h"

using namespace ember;
using namespace ember::io;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  JsonValue v;
  try {
    v = parse_json(text, 16, "fuzz input");
  } catch (const CheckpointError&) {
    return 0;
  }
  // The reader accepted it, so it is valid UTF-8 and writes back; the
  // writing must read back as the same compact text.
  if (!is_valid_utf8(text)) std::abort();
  std::string once = to_json(v);
  std::string twice = to_json(parse_json(once, 16, "round trip"));
  if (once != twice) std::abort();
  return 0;
}
