// libFuzzer target: the safetensors container (csrc/io/safetensors.h): length
// prefix, JSON header, dtypes, shapes, offsets.
// Property: every input either parses or raises CheckpointError, and a
// header that parses describes entries that tile the data section exactly.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "csrc/error.h"
#include "csrc/io/safetensors.h"

using namespace ember;
using namespace ember::io;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ParsedHeader h;
  try {
    h = parse_header(data, size);
  } catch (const CheckpointError&) {
    return 0;
  }
  if (h.data_start + h.data_size != size) std::abort();
  std::vector<const TensorEntry*> sorted;
  for (const TensorEntry& e : h.tensors) {
    uint64_t numel = 1;
    for (int64_t d : e.shape) numel *= uint64_t(d);
    if (numel * itemsize(e.dtype) != e.nbytes()) std::abort();
    sorted.push_back(&e);
  }
  // Empty entries may share an offset with the next one: order by (begin, end).
  std::sort(sorted.begin(), sorted.end(),
            [](auto* a, auto* b) { return a->begin != b->begin ? a->begin < b->begin : a->end < b->end; });
  uint64_t cursor = 0;
  for (const TensorEntry* e : sorted) {
    if (e->begin != cursor) std::abort();
    cursor = e->end;
  }
  if (cursor != h.data_size) std::abort();
  return 0;
}
