// Checkpoint snapshots for background saves (see snapshot.h).
#include "snapshot.h"

#include <cstring>

#include "atomic_file.h"
#include "parallel_pieces.h"

namespace ember::io {

namespace {

// One contiguous copy, or one whole strided entry.
struct CopyPiece {
  const EntryToWrite* entry;
  uint64_t from, n;  // byte range of the entry (contiguous entries only)
  char* dst;
};

// Pieces small enough that two threads share a few large tensors evenly.
constexpr uint64_t kPieceBytes = uint64_t(4) << 20;

}  // namespace

CheckpointSnapshot::CheckpointSnapshot(const std::vector<EntryToWrite>& entries, const Metadata& metadata) {
  FileLayout layout = plan_layout(entries, metadata);
  prefix_ = std::move(layout.prefix);
  data_ = PageBuffer(size_t(layout.total_size - prefix_.size()));

  std::vector<CopyPiece> pieces;
  uint64_t at = 0;
  for (size_t i : layout.data_order) {
    const EntryToWrite& e = entries[i];
    if (e.contiguous()) {
      for (uint64_t from = 0; from < e.nbytes; from += kPieceBytes)
        pieces.push_back({&e, from, std::min(kPieceBytes, e.nbytes - from), data_.data() + at + from});
    } else if (e.nbytes) {
      pieces.push_back({&e, 0, e.nbytes, data_.data() + at});
    }
    at += e.nbytes;
  }
  // Threads take pieces in turn; each one's first touch of its
  // destination pages also spreads the page faults.
  for_each_piece(int64_t(pieces.size()), [&](int64_t p) {
    const CopyPiece& c = pieces[size_t(p)];
    if (c.entry->contiguous()) std::memcpy(c.dst, static_cast<const char*>(c.entry->data) + c.from, c.n);
    else copy_entry_bytes(*c.entry, c.dst);
  });
}

void CheckpointSnapshot::write_file(const std::string& path) const {
  AtomicFileWriter out(path, file_size());
  out.write(prefix_.data(), prefix_.size());
  out.write(data_.data(), data_.size());
  out.commit();
}

}  // namespace ember::io
