// A checkpoint taken apart from its tensors: the file's header and a copy of
// every tensor's bytes, in file order. What a background save writes: once
// the snapshot exists, the tensors may change (or die) without reaching the
// file, and the write needs no Python objects.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "checkpoint.h"
#include "page_buffer.h"
#include "safetensors.h"

namespace ember::io {

class CheckpointSnapshot {
 public:
  // Copies the entries' bytes (split between the CPU threads); the entries'
  // memory is not used afterwards.
  CheckpointSnapshot(const std::vector<EntryToWrite>& entries, const Metadata& metadata);

  // Replaces `path` with the checkpoint, atomically and durably
  // (atomic_file.h). May run on any thread, more than once.
  void write_file(const std::string& path) const;

  uint64_t file_size() const { return prefix_.size() + data_.size(); }

 private:
  std::string prefix_;  // length prefix and JSON header
  PageBuffer data_;     // the data section
};

// Plans `obj` as save_file() would and takes its snapshot.
CheckpointSnapshot snapshot(const Object& obj);

}  // namespace ember::io
