// Reading checkpoints: validate the header (safetensors.h) and the structure
// description (checkpoint_decode.h) completely, then allocate storages (or
// borrow them from a memory-mapped file), read them, move each storage to
// its target device once, and build the views and the object tree. See
// checkpoint.h for the format.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "../error.h"
#include "../ops/ops.h"
#include "checkpoint.h"
#include "checkpoint_decode.h"
#include "checkpoint_util.h"
#include "page_buffer.h"
#include "parallel_pieces.h"
#include "safetensors.h"

namespace ember::io {

using namespace detail;

namespace {

// ------------------------------------------------------------ byte sources

// Bytes [begin, begin + n) of the data section, to be copied to dst.
struct ReadJob {
  uint64_t begin, n;
  void* dst;
};

// Where the data section's bytes come from.
class Source {
 public:
  virtual ~Source() = default;
  // Copies [begin, begin + n) of the data section into dst. Thread-safe.
  virtual void read(uint64_t begin, uint64_t n, void* dst) = 0;
  // Runs every job, split into pieces that the CPU threads take in turn:
  // two threads copying (and faulting in the fresh destination pages)
  // finish a large file in about half the time.
  void read_all(const std::vector<ReadJob>& jobs) {
    constexpr uint64_t kPiece = uint64_t(4) << 20;
    std::vector<ReadJob> pieces;
    for (const ReadJob& j : jobs)
      for (uint64_t at = 0; at < j.n; at += kPiece)
        pieces.push_back({j.begin + at, std::min(kPiece, j.n - at), static_cast<char*>(j.dst) + at});
    for_each_piece(int64_t(pieces.size()), [&](int64_t i) {
      const ReadJob& p = pieces[size_t(i)];
      read(p.begin, p.n, p.dst);
    });
  }
  // The data section in memory, when it is.
  virtual const char* pointer() const { return nullptr; }
  // A storage that borrows the bytes (memory-mapped files), or null.
  virtual std::shared_ptr<Storage> borrow(uint64_t begin, uint64_t n) { return nullptr; }
};

class MemorySource : public Source {
 public:
  explicit MemorySource(const char* data) : data_(data) {}
  void read(uint64_t begin, uint64_t n, void* dst) override {
    if (n) std::memcpy(dst, data_ + begin, n);
  }
  const char* pointer() const override { return data_; }

 private:
  const char* data_;
};

struct FileDescriptor {
  int fd = -1;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};

void pread_all(int fd, void* dst, uint64_t n, uint64_t at, const std::string& path) {
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    size_t chunk = n > (uint64_t(1) << 30) ? (size_t(1) << 30) : size_t(n);
    ssize_t r = ::pread(fd, p, chunk, off_t(at));
    if (r < 0 && errno == EINTR) continue;
    EMBER_CHECK(r >= 0, CheckpointError, "cannot read ", path, ": ", std::strerror(errno));
    EMBER_CHECK(r > 0, CheckpointError, "cannot read ", path, ": the file is shorter than its header says (truncated while loading?)");
    p += r;
    n -= uint64_t(r);
    at += uint64_t(r);
  }
}

class FileSource : public Source {
 public:
  FileSource(int fd, uint64_t data_start, std::string path) : fd_(fd), start_(data_start), path_(std::move(path)) {}
  void read(uint64_t begin, uint64_t n, void* dst) override { pread_all(fd_, dst, n, start_ + begin, path_); }

 private:
  int fd_;
  uint64_t start_;
  std::string path_;
};

// A private (copy-on-write) mapping of a whole file: tensors may be written
// to without touching the file. Unmapped when the last borrowing storage dies.
struct Mapping {
  void* addr = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (addr) ::munmap(addr, size);
  }
};

class MappedSource : public Source {
 public:
  MappedSource(std::shared_ptr<Mapping> m, uint64_t data_start) : map_(std::move(m)), start_(data_start) {}
  void read(uint64_t begin, uint64_t n, void* dst) override {
    if (n) std::memcpy(dst, pointer() + begin, n);
  }
  const char* pointer() const override { return static_cast<const char*>(map_->addr) + start_; }
  std::shared_ptr<Storage> borrow(uint64_t begin, uint64_t n) override {
    auto keep = map_;
    return borrow_storage(const_cast<char*>(pointer()) + begin, n, Device{},
                          [keep](void*) mutable { keep.reset(); });
  }

 private:
  std::shared_ptr<Mapping> map_;
  uint64_t start_;
};

// The device a storage saved on `saved` goes to.
std::string target_device(const std::string& saved, const LoadOptions& opt) {
  if (opt.map_all) return *opt.map_all;
  for (const auto& kv : opt.remap)
    if (kv.first == saved) return kv.second;
  return saved;
}

std::shared_ptr<Storage> move_storage(std::shared_ptr<Storage> s, const std::string& saved, const LoadOptions& opt) {
  const std::string target_name = target_device(saved, opt);
  if (target_name == saved && saved != "cpu") {
    try {
      parse_device(saved);
    } catch (const std::exception&) {
      throw CheckpointError(str("a tensor was saved on device \"", saved,
                                "\", which ember does not support; pass map_location='cpu' to ember.load"));
    }
  }
  Device target = parse_saved_device(target_name, "map_location device");
  if (target.is_cpu()) return s;
  try {
    auto t = std::make_shared<TensorImpl>();
    t->storage = std::move(s);
    t->shape = {int64_t(t->storage->nbytes)};
    t->strides = {1};
    t->dtype = DType::UInt8;
    t->version = std::make_shared<std::atomic<uint32_t>>(0);
    return to_device(t, target)->storage;
  } catch (const std::exception& e) {
    throw CheckpointError(str("cannot load a tensor saved on ", saved, " onto ", target.str(), ": ", e.what(),
                              ". Use map_location (for example ember.load(f, map_location='cpu')) to load it "
                              "onto another device"));
  }
}

std::shared_ptr<std::atomic<uint32_t>> new_version() { return std::make_shared<std::atomic<uint32_t>>(0); }

Tensor make_tensor(const std::shared_ptr<Storage>& s, const std::shared_ptr<std::atomic<uint32_t>>& version,
                   DType dtype, Shape shape, Shape strides, int64_t offset) {
  auto t = std::make_shared<TensorImpl>();
  t->storage = s;
  t->shape = std::move(shape);
  t->strides = std::move(strides);
  t->offset = offset;
  t->dtype = dtype;
  t->version = version;
  return t;
}

// A storage for entry `e`: borrowed from the source when it can be (and is
// aligned for `align`), else allocated with its read queued in `jobs`.
std::shared_ptr<Storage> entry_storage(Source& src, const TensorEntry& e, size_t align, std::vector<ReadJob>& jobs) {
  if (auto s = src.borrow(e.begin, e.nbytes())) {
    if (reinterpret_cast<uintptr_t>(s->data) % align == 0) return s;
  }
  auto s = allocate_host_storage(e.nbytes());
  if (e.nbytes()) jobs.push_back({e.begin, e.nbytes(), s->data});
  return s;
}

// ------------------------------------------------------------ the loader

class Loader {
 public:
  Loader(const ParsedHeader& h, Source& src, const LoadOptions& opt) : h_(h), src_(src), opt_(opt) {}

  Object load() {
    d_ = decode_checkpoint(h_);
    // Everything is validated: now allocate, read and move.
    materialize();
    fill(d_.root);
    return std::move(d_.root);
  }

 private:
  void materialize() {
    // 1. Allocate every storage, queueing the reads of those that are one
    //    entry's bytes; 2. read them all at once; 3. rebuild the scattered
    //    storages, move storages to their devices, build the views.
    const size_t n_entries = h_.tensors.size();
    storage_.resize(d_.storages.size());
    plain_.resize(n_entries);
    std::vector<ReadJob> jobs;
    for (size_t k = 0; k < d_.storages.size(); ++k) {
      const StorageDesc& s = d_.storages[k];
      if (s.entry) storage_[k] = entry_storage(src_, *s.entry, s.max_item, jobs);
    }
    std::vector<std::shared_ptr<Storage>> plain_storage(n_entries);
    for (size_t i = 0; i < n_entries; ++i) {
      if (d_.roles[i] != EntryRole::Plain) continue;
      plain_storage[i] = entry_storage(src_, h_.tensors[i], itemsize(h_.tensors[i].dtype), jobs);
    }
    src_.read_all(jobs);

    std::vector<std::shared_ptr<std::atomic<uint32_t>>> versions(d_.storages.size());
    for (size_t k = 0; k < d_.storages.size(); ++k) {
      const StorageDesc& s = d_.storages[k];
      if (!s.entry) {
        storage_[k] = allocate_host_storage(s.nbytes);
        if (s.nbytes) std::memset(storage_[k]->data, 0, s.nbytes);
        for (const TensorDesc& t : d_.tensors) {
          if (t.storage != k || t.entry->nbytes() == 0) continue;
          const char* bytes = src_.pointer() ? src_.pointer() + t.entry->begin : nullptr;
          std::unique_ptr<char[]> tmp;
          if (!bytes) {
            tmp.reset(new char[t.entry->nbytes()]);
            src_.read(t.entry->begin, t.entry->nbytes(), tmp.get());
            bytes = tmp.get();
          }
          const size_t item = itemsize(t.dtype);
          strided_copy(static_cast<char*>(storage_[k]->data) + t.offset * int64_t(item), t.strides, bytes,
                       contiguous_strides(t.shape), t.shape, item);
        }
      }
      storage_[k] = move_storage(std::move(storage_[k]), s.saved_device, opt_);
      versions[k] = new_version();
    }
    for (const TensorDesc& t : d_.tensors)
      views_.push_back(make_tensor(storage_[t.storage], versions[t.storage], t.dtype, t.shape, t.strides, t.offset));
    for (size_t i = 0; i < n_entries; ++i) {
      if (d_.roles[i] != EntryRole::Plain) continue;
      const TensorEntry& e = h_.tensors[i];
      auto storage = move_storage(std::move(plain_storage[i]), "cpu", opt_);
      plain_[i] = make_tensor(storage, new_version(), e.dtype, e.shape, contiguous_strides(e.shape), 0);
    }
  }

  void fill(Object& o) {
    if (o.kind == Object::Kind::Tensor) {
      o.tensor = o.integer >= 0 ? views_[size_t(o.integer)] : plain_[size_t(-1 - o.integer)];
      o.integer = 0;
      return;
    }
    for (Object& item : o.items) fill(item);
  }

  const ParsedHeader& h_;
  Source& src_;
  const LoadOptions& opt_;
  DecodedCheckpoint d_;
  std::vector<std::shared_ptr<Storage>> storage_;  // per storage description
  std::vector<Tensor> views_;                      // per tensor description
  std::vector<Tensor> plain_;                      // per header entry (plain ones only)
};

}  // namespace

Object load_bytes(const void* data, size_t size, const LoadOptions& options) {
  const uint8_t* bytes = static_cast<const uint8_t*>(data);
  ParsedHeader h = parse_header(bytes, size);
  MemorySource src(reinterpret_cast<const char*>(bytes) + h.data_start);
  return Loader(h, src, options).load();
}

Object load_file(const std::string& path, const LoadOptions& options) {
  FileDescriptor f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EMBER_CHECK(f.fd >= 0, CheckpointError, "cannot open ", path, ": ", std::strerror(errno));
  struct stat st;
  EMBER_CHECK(::fstat(f.fd, &st) == 0, CheckpointError, "cannot stat ", path, ": ", std::strerror(errno));
  EMBER_CHECK(S_ISREG(st.st_mode), CheckpointError, "cannot load ", path, ": not a regular file");
  const uint64_t size = uint64_t(st.st_size);

  if (options.mmap && size >= 8) {
    auto m = std::make_shared<Mapping>();
    void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, f.fd, 0);
    EMBER_CHECK(addr != MAP_FAILED, CheckpointError, "cannot memory-map ", path, ": ", std::strerror(errno));
    m->addr = addr;
    m->size = size;
    ParsedHeader h = parse_header(static_cast<const uint8_t*>(addr), size);
    MappedSource src(m, h.data_start);
    return Loader(h, src, options).load();
  }

  if (size >= 8) {
    // Copying out of a read-only mapping of the file, then unmapping it:
    // the tensors own their memory as with read(), but on the virtual
    // machines measured the copy ran about 3x faster than pread() of the
    // same page-cache bytes.
    void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, f.fd, 0);
    if (addr != MAP_FAILED) {
      Mapping m;
      m.addr = addr;
      m.size = size;
      ParsedHeader h = parse_header(static_cast<const uint8_t*>(addr), size);
      MemorySource src(static_cast<const char*>(addr) + h.data_start);
      return Loader(h, src, options).load();
    }
  }
  uint8_t first8[8] = {0};
  if (size >= 8) pread_all(f.fd, first8, 8, 0, path);
  const uint64_t n = read_header_length(first8, size);
  std::string prefix(8 + n, '\0');
  pread_all(f.fd, prefix.data(), prefix.size(), 0, path);
  ParsedHeader h = parse_header(reinterpret_cast<const uint8_t*>(prefix.data()), size);
  FileSource src(f.fd, h.data_start, path);
  return Loader(h, src, options).load();
}

std::vector<Tensor> tensors_from_raw(const std::vector<RawStorage>& storages, const std::vector<RawView>& views,
                                     const LoadOptions& options) {
  for (size_t i = 0; i < views.size(); ++i) {
    const RawView& v = views[i];
    EMBER_CHECK(v.storage < storages.size(), CheckpointError, "tensor ", i, " references missing storage ", v.storage);
    check_view(str("tensor ", i), v.dtype, v.shape, v.strides, v.offset, storages[v.storage].nbytes);
  }
  std::vector<std::string> saved(storages.size());
  for (size_t k = 0; k < storages.size(); ++k) saved[k] = storages[k].saved_device;
  std::vector<std::shared_ptr<Storage>> built(storages.size());
  std::vector<std::shared_ptr<std::atomic<uint32_t>>> versions(storages.size());
  std::vector<Tensor> out;
  for (const RawView& v : views) {
    auto& s = built[v.storage];
    if (!s) {
      const RawStorage& raw = storages[v.storage];
      auto cpu = allocate_host_storage(raw.nbytes);
      if (raw.nbytes) std::memcpy(cpu->data, raw.data, raw.nbytes);
      s = move_storage(std::move(cpu), saved[v.storage], options);
      versions[v.storage] = new_version();
    }
    out.push_back(make_tensor(s, versions[v.storage], v.dtype, v.shape, v.strides, v.offset));
  }
  return out;
}

}  // namespace ember::io
