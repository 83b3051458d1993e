// Durable, atomic replacement of a file: the bytes go to a temporary file in
// the target's folder ("<folder>/.<name>.ember-tmp-<pid>-<tag>"), which is
// fsync'ed, renamed over the target, and the folder fsync'ed. A process
// killed at any instant leaves the old file or the new one; a commit() that
// returned survives a power cut. Temporary files of writers that died are
// removed when the next writer for the same target starts.
//
// Writes are streamed: every kWindowBytes of file (at window-aligned file
// offsets, so the kernel sees large aligned ranges) are handed to the disk at
// once with sync_file_range, so the disk writes while the caller produces
// the next window and the final fsync has little left to wait for.
#pragma once
#include <cstdint>
#include <string>

namespace ember::io {

class AtomicFileWriter {
 public:
  static constexpr uint64_t kWindowBytes = uint64_t(8) << 20;

  // Creates the temporary file and reserves `expected_size` bytes for it
  // (one extent allocation instead of one per writeback).
  AtomicFileWriter(const std::string& path, uint64_t expected_size);
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  // Without commit(): closes and removes the temporary file.
  ~AtomicFileWriter();

  void write(const void* data, uint64_t nbytes);
  // fsync, close, rename over the target, fsync of the folder.
  void commit();

 private:
  void discard() noexcept;
  std::string path_, dir_, tmp_;
  int fd_ = -1;
  uint64_t written_ = 0, flushed_ = 0;
};

// The name prefix of the temporary files for `path`, for tests:
// "<folder>/.<file name>.ember-tmp-".
std::string temp_file_prefix(const std::string& path);

}  // namespace ember::io
