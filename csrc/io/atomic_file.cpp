// Atomic, durable file replacement (see atomic_file.h).
#include "atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "../error.h"

namespace ember::io {

namespace {

std::string errno_text(int err) { return std::strerror(err); }

void split_path(const std::string& path, std::string* dir, std::string* base) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) {
    *dir = ".";
    *base = path;
  } else {
    *dir = slash == 0 ? "/" : path.substr(0, slash);
    *base = path.substr(slash + 1);
  }
}

// Removes "<dir>/.<base>.ember-tmp-<pid>-<tag>" files whose writer process is
// gone (killed mid-save). Files of live writers are left alone.
void remove_stale_temp_files(const std::string& dir, const std::string& base) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  const std::string prefix = "." + base + ".ember-tmp-";
  while (struct dirent* ent = ::readdir(d)) {
    std::string name = ent->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    // The pid follows the prefix, up to the next '-'.
    size_t pos = prefix.size();
    long pid = 0;
    bool ok = pos < name.size();
    while (pos < name.size() && name[pos] != '-') {
      if (name[pos] < '0' || name[pos] > '9' || pid > 100000000) {
        ok = false;
        break;
      }
      pid = pid * 10 + (name[pos] - '0');
      ++pos;
    }
    if (!ok || pos >= name.size() || pid <= 0) continue;
    bool writer_alive = ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
    if (!writer_alive) ::unlinkat(::dirfd(d), name.c_str(), 0);
  }
  ::closedir(d);
}

std::atomic<uint64_t> g_temp_counter{0};

}  // namespace

std::string temp_file_prefix(const std::string& path) {
  std::string dir, base;
  split_path(path, &dir, &base);
  return (dir == "/" ? "" : dir) + "/." + base + ".ember-tmp-";
}

AtomicFileWriter::AtomicFileWriter(const std::string& path, uint64_t expected_size) : path_(path) {
  std::string base;
  split_path(path, &dir_, &base);
  EMBER_CHECK(!base.empty(), Error, "cannot save to \"", path, "\": it names a folder, not a file");
  remove_stale_temp_files(dir_, base);

  // pid + a per-process counter make the name unique among live writers
  // (threads included); the clock keeps a recycled pid from meeting a
  // stale file it cannot remove.
  uint64_t tag = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                 (g_temp_counter.fetch_add(1) * 0x9E3779B97F4A7C15ull);
  char tag_hex[17];
  std::snprintf(tag_hex, sizeof(tag_hex), "%016llx", static_cast<unsigned long long>(tag));
  tmp_ = temp_file_prefix(path) + std::to_string(::getpid()) + "-" + tag_hex;

  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  EMBER_CHECK(fd_ >= 0, Error, "cannot save to ", path, ": cannot create a temporary file in ", dir_, ": ",
              errno_text(errno));
#ifdef __linux__
  // Reserving the blocks is an optimisation: filesystems without fallocate
  // (or a full disk, which write() then reports) simply go on.
  // (Not posix_fallocate: glibc emulates that by writing a byte per block.)
  if (expected_size > 0) (void)::fallocate(fd_, 0, 0, off_t(expected_size));
#endif
}

AtomicFileWriter::~AtomicFileWriter() { discard(); }

void AtomicFileWriter::discard() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!tmp_.empty()) {
    ::unlink(tmp_.c_str());
    tmp_.clear();
  }
}

void AtomicFileWriter::write(const void* data, uint64_t nbytes) {
  EMBER_CHECK(fd_ >= 0, Error, "internal error: write after commit");
  const char* p = static_cast<const char*>(data);
  while (nbytes > 0) {
    // Never cross a window boundary in one call, so each window is handed to
    // the disk as soon as it is complete.
    const uint64_t room = kWindowBytes - written_ % kWindowBytes;
    const size_t chunk = size_t(nbytes < room ? nbytes : room);
    ssize_t w = ::write(fd_, p, chunk);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(str("cannot save to ", path_, ": write failed: ", errno_text(errno)));
    }
    p += w;
    nbytes -= uint64_t(w);
    written_ += uint64_t(w);
#ifdef __linux__
    if (written_ - flushed_ >= kWindowBytes) {
      ::sync_file_range(fd_, off64_t(flushed_), off64_t(written_ - flushed_), SYNC_FILE_RANGE_WRITE);
      flushed_ = written_;
    }
#endif
  }
}

void AtomicFileWriter::commit() {
  EMBER_CHECK(fd_ >= 0, Error, "internal error: commit twice");
  // fallocate may have reserved more than was written (an estimate that
  // was too large): the file must end where the data ends.
  struct stat st;
  if (::fstat(fd_, &st) == 0 && uint64_t(st.st_size) != written_)
    EMBER_CHECK(::ftruncate(fd_, off_t(written_)) == 0, Error, "cannot save to ", path_,
                ": ftruncate failed: ", errno_text(errno));
  // The data must be on disk before the rename makes it visible; otherwise
  // a power cut could leave the new name pointing at missing blocks.
  EMBER_CHECK(::fsync(fd_) == 0, Error, "cannot save to ", path_, ": fsync failed: ", errno_text(errno));
  int rc = ::close(fd_);
  fd_ = -1;
  EMBER_CHECK(rc == 0, Error, "cannot save to ", path_, ": close failed: ", errno_text(errno));
  EMBER_CHECK(::rename(tmp_.c_str(), path_.c_str()) == 0, Error, "cannot save to ", path_, ": rename failed: ",
              errno_text(errno));
  tmp_.clear();
  // Persist the rename itself. Failure here is not reported: the new file is
  // complete and in place; only its durability across a power cut is weaker.
  int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace ember::io
