// libFuzzer target: ember's structure description (csrc/io/checkpoint_decode.h)
// on top of the safetensors header: storages, views, the object tree.
// Property: every input either decodes or raises CheckpointError; what
// decodes uses every entry, and every view lies inside its storage.
#include <cstdint>
#include <cstdlib>

#include "csrc/error.h"
#include "csrc/io/checkpoint_decode.h"
#include "csrc/io/checkpoint_util.h"

using namespace ember;
using namespace ember::io;

namespace {

void check_tree(const Object& o, const DecodedCheckpoint& d, size_t n_entries) {
  if (o.kind == Object::Kind::Tensor) {
    if (o.integer >= 0 ? size_t(o.integer) >= d.tensors.size() : size_t(-1 - o.integer) >= n_entries) std::abort();
    return;
  }
  if (o.keys.size() != 0 && o.keys.size() != o.items.size()) std::abort();
  for (const Object& item : o.items) check_tree(item, d, n_entries);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ParsedHeader h;
  DecodedCheckpoint d;
  try {
    h = parse_header(data, size);
    d = decode_checkpoint(h);
  } catch (const CheckpointError&) {
    return 0;
  }
  for (EntryRole r : d.roles)
    if (r == EntryRole::Unused) std::abort();
  for (const TensorDesc& t : d.tensors) {
    if (t.storage >= d.storages.size()) std::abort();
    // Must not throw: decoding already checked the view.
    io::detail::check_view("fuzz", t.dtype, t.shape, t.strides, t.offset, d.storages[t.storage].nbytes);
  }
  check_tree(d.root, d, h.tensors.size());
  return 0;
}
