// Reading checkpoints: validate the header and the structure description
// completely, then allocate storages (or borrow them from a memory-mapped
// file), move each storage to its target device once, and build the views and
// the object tree. See checkpoint.h for the format.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "../cpu/parallel.h"
#include "../error.h"
#include "../ops/ops.h"
#include "checkpoint.h"
#include "checkpoint_util.h"
#include "page_buffer.h"
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
  // Runs every job, split into pieces shared by the CPU threads: two
  // threads copying out of the page cache (and faulting in the fresh
  // destination pages) finish a large file in about half the time.
  void read_all(const std::vector<ReadJob>& jobs) {
    constexpr uint64_t kPiece = uint64_t(4) << 20;
    std::vector<ReadJob> pieces;
    for (const ReadJob& j : jobs)
      for (uint64_t at = 0; at < j.n; at += kPiece)
        pieces.push_back({j.begin + at, std::min(kPiece, j.n - at), static_cast<char*>(j.dst) + at});
    // An exception may not leave an OpenMP region: the first one is kept
    // and rethrown after it.
    std::exception_ptr failure;
    std::mutex failure_mutex;
    cpu::parallel_for(int64_t(pieces.size()), 2, [&](int64_t b, int64_t e) {
      try {
        for (int64_t i = b; i < e; ++i) read(pieces[size_t(i)].begin, pieces[size_t(i)].n, pieces[size_t(i)].dst);
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
      }
    });
    if (failure) std::rethrow_exception(failure);
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

// ------------------------------------------------------------ descriptions

struct StorageDesc {
  const TensorEntry* entry = nullptr;  // {"entry"}: the bytes of this entry
  uint64_t nbytes = 0;                 // {"nbytes"} or the entry's size
  uint64_t scatter_bytes = 0;          // {"nbytes"}: bytes its tensors' entries hold
  std::string saved_device = "cpu";
  size_t max_item = 1;                 // widest dtype viewing it (mmap alignment)
  std::shared_ptr<Storage> storage;    // built on load
  std::shared_ptr<std::atomic<uint32_t>> version;
};

struct TensorDesc {
  size_t storage = 0;
  DType dtype = DType::Float32;
  Shape shape, strides;
  int64_t offset = 0;
  const TensorEntry* entry = nullptr;
  Tensor tensor;
};

const JsonValue& member(const JsonValue& obj, const char* key, const std::string& what) {
  const JsonValue* v = obj.find(key);
  EMBER_CHECK(v, CheckpointError, "invalid ember structure description: ", what, " has no \"", key, "\"");
  return *v;
}

int64_t nonneg_int(const JsonValue& v, const std::string& what) {
  EMBER_CHECK(v.is_int() && v.integer >= 0, CheckpointError, "invalid ember structure description: ", what,
              " must be a non-negative integer");
  return v.integer;
}

Shape int_list(const JsonValue& v, const std::string& what) {
  EMBER_CHECK(v.is_array() && v.array.size() <= 64, CheckpointError, "invalid ember structure description: ", what,
              " must be an array of at most 64 integers");
  Shape out;
  for (const JsonValue& x : v.array) out.push_back(nonneg_int(x, what));
  return out;
}

void check_keys(const JsonValue& obj, std::initializer_list<const char*> allowed, const std::string& what) {
  for (const auto& kv : obj.object) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || kv.first == a;
    EMBER_CHECK(ok, CheckpointError, "invalid ember structure description: ", what, " has an unexpected key \"",
                kv.first, "\"");
  }
}

Device parse_saved_device(const std::string& s, const char* what) {
  try {
    Device d = parse_device(s);
    if (d.index < 0) d.index = 0;
    return d;
  } catch (const std::exception&) {
    throw CheckpointError(str("invalid ", what, " \"", s, "\""));
  }
}

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
    for (size_t i = 0; i < h_.tensors.size(); ++i) entry_index_.emplace(h_.tensors[i].name, i);
    role_.assign(h_.tensors.size(), Role::Unused);
    plain_.resize(h_.tensors.size());

    const std::string* version = h_.find_metadata(kFormatVersionKey);
    JsonValue tree;
    if (!version) {
      // Another tool's file: a dict of its entries, in header order.
      tree = json_object();
      JsonValue pairs = json_array();
      for (const auto& e : h_.tensors) {
        JsonValue pair = json_array();
        pair.array.push_back(json_str(e.name));
        JsonValue ref = json_object();
        json_set(ref, "e", json_str(e.name));
        pair.array.push_back(std::move(ref));
        pairs.array.push_back(std::move(pair));
      }
      json_set(tree, "dict", std::move(pairs));
    } else {
      EMBER_CHECK(*version == kFormatVersion, CheckpointError, "unsupported ember checkpoint format version \"",
                  *version, "\": this ember reads version ", kFormatVersion, " (was it written by a newer ember?)");
      if (const std::string* s = h_.find_metadata(kStoragesKey)) parse_storages(*s);
      if (const std::string* s = h_.find_metadata(kTensorsKey)) parse_tensors(*s);
      const std::string* t = h_.find_metadata(kTreeKey);
      EMBER_CHECK(t, CheckpointError, "invalid ember checkpoint: __metadata__ has no \"", kTreeKey, "\"");
      tree = parse_json(*t, 3 * kMaxStructureDepth + 8, "ember.tree");
    }
    check_storages();
    Object root = decode(tree, 0);
    for (size_t i = 0; i < h_.tensors.size(); ++i)
      EMBER_CHECK(role_[i] != Role::Unused, CheckpointError, "invalid ember checkpoint: tensor entry \"",
                  h_.tensors[i].name, "\" is not used by the structure description");

    // Everything is validated: now allocate, read and move.
    materialize();
    fill(root);
    return root;
  }

 private:
  enum class Role : uint8_t { Unused, Plain, StorageBytes, ViewBytes };

  const TensorEntry& claim(const JsonValue& name, Role role, const std::string& what) {
    EMBER_CHECK(name.is_string(), CheckpointError, "invalid ember structure description: ", what,
                " must name an entry with a string");
    auto it = entry_index_.find(name.string);
    EMBER_CHECK(it != entry_index_.end(), CheckpointError, "invalid ember structure description: ", what,
                " references a missing tensor entry \"", name.string, "\"");
    Role& r = role_[it->second];
    if (role == Role::Plain && r == Role::Plain) return h_.tensors[it->second];  // same tensor, referenced again
    EMBER_CHECK(r == Role::Unused, CheckpointError, "invalid ember structure description: tensor entry \"",
                name.string, "\" is used more than once");
    r = role;
    return h_.tensors[it->second];
  }

  void parse_storages(const std::string& text) {
    JsonValue arr = parse_json(text, 4, "ember.storages");
    EMBER_CHECK(arr.is_array(), CheckpointError, "invalid ember.storages: expected an array");
    for (size_t k = 0; k < arr.array.size(); ++k) {
      const JsonValue& d = arr.array[k];
      const std::string what = str("storage ", k);
      EMBER_CHECK(d.is_object(), CheckpointError, "invalid ember structure description: ", what, " is not an object");
      check_keys(d, {"entry", "nbytes", "device"}, what);
      StorageDesc s;
      const JsonValue* entry = d.find("entry");
      const JsonValue* nbytes = d.find("nbytes");
      EMBER_CHECK((entry != nullptr) != (nbytes != nullptr), CheckpointError, "invalid ember structure description: ",
                  what, " needs exactly one of \"entry\" and \"nbytes\"");
      if (entry) {
        s.entry = &claim(*entry, Role::StorageBytes, what);
        s.nbytes = s.entry->nbytes();
      } else {
        s.nbytes = uint64_t(nonneg_int(*nbytes, what + " nbytes"));
        EMBER_CHECK(s.nbytes <= kMaxTensorBytes, CheckpointError, what, " is too large");
      }
      if (const JsonValue* dev = d.find("device")) {
        EMBER_CHECK(dev->is_string(), CheckpointError, "invalid ember structure description: ", what,
                    " device must be a string");
        s.saved_device = parse_saved_device(dev->string, "saved device").str();
      }
      storages_.push_back(std::move(s));
    }
  }

  void parse_tensors(const std::string& text) {
    JsonValue arr = parse_json(text, 4, "ember.tensors");
    EMBER_CHECK(arr.is_array(), CheckpointError, "invalid ember.tensors: expected an array");
    for (size_t i = 0; i < arr.array.size(); ++i) {
      const JsonValue& d = arr.array[i];
      const std::string what = str("tensor ", i);
      EMBER_CHECK(d.is_object(), CheckpointError, "invalid ember structure description: ", what, " is not an object");
      check_keys(d, {"storage", "dtype", "shape", "strides", "offset", "entry"}, what);
      TensorDesc t;
      t.storage = size_t(nonneg_int(member(d, "storage", what), what + " storage"));
      EMBER_CHECK(t.storage < storages_.size(), CheckpointError, "invalid ember structure description: ", what,
                  " references missing storage ", t.storage);
      const JsonValue& dtype = member(d, "dtype", what);
      EMBER_CHECK(dtype.is_string() && dtype_from_safetensors_name(dtype.string, &t.dtype), CheckpointError,
                  "invalid ember structure description: ", what, " has an unknown dtype");
      t.shape = int_list(member(d, "shape", what), what + " shape");
      t.strides = int_list(member(d, "strides", what), what + " strides");
      t.offset = nonneg_int(member(d, "offset", what), what + " offset");
      StorageDesc& s = storages_[t.storage];
      check_view(what, t.dtype, t.shape, t.strides, t.offset, s.nbytes);
      s.max_item = std::max(s.max_item, itemsize(t.dtype));
      if (const JsonValue* entry = d.find("entry")) {
        EMBER_CHECK(!s.entry, CheckpointError, "invalid ember structure description: ", what,
                    " has its own entry but its storage is an entry");
        t.entry = &claim(*entry, Role::ViewBytes, what);
        EMBER_CHECK(t.entry->dtype == t.dtype && t.entry->shape == t.shape, CheckpointError,
                    "invalid ember structure description: ", what, " does not match the dtype and shape of entry \"",
                    t.entry->name, "\"");
        s.scatter_bytes += t.entry->nbytes();
      } else {
        EMBER_CHECK(s.entry, CheckpointError, "invalid ember structure description: ", what,
                    " views a storage rebuilt from entries but has no entry of its own");
      }
      tensors_.push_back(std::move(t));
    }
  }

  // A rebuilt storage may not be larger than the bytes that fill it, so
  // that memory stays within a small multiple of the file size.
  void check_storages() {
    for (size_t k = 0; k < storages_.size(); ++k) {
      const StorageDesc& s = storages_[k];
      if (!s.entry)
        EMBER_CHECK(s.nbytes <= s.scatter_bytes, CheckpointError, "invalid ember structure description: storage ", k,
                    " declares ", s.nbytes, " bytes but its tensors hold only ", s.scatter_bytes);
    }
  }

  Object decode(const JsonValue& j, int depth) {
    EMBER_CHECK(depth <= kMaxStructureDepth, CheckpointError,
                "invalid ember structure description: containers nest deeper than ", kMaxStructureDepth, " levels");
    Object o;
    switch (j.type) {
      case JsonValue::Type::Null: return o;
      case JsonValue::Type::Bool:
        o.kind = Object::Kind::Bool;
        o.boolean = j.boolean;
        return o;
      case JsonValue::Type::Int:
        o.kind = Object::Kind::Int;
        o.integer = j.integer;
        return o;
      case JsonValue::Type::String:
        o.kind = Object::Kind::Str;
        o.string = j.string;
        return o;
      case JsonValue::Type::Float:
      case JsonValue::Type::Array:
        throw CheckpointError("invalid ember structure description: unexpected bare number or array");
      case JsonValue::Type::Object: break;
    }
    EMBER_CHECK(j.object.size() == 1, CheckpointError,
                "invalid ember structure description: a node must be an object with one key");
    const std::string& tag = j.object[0].first;
    const JsonValue& v = j.object[0].second;
    if (tag == "float") {
      EMBER_CHECK(v.is_string(), CheckpointError, "invalid ember structure description: float value must be a string");
      o.kind = Object::Kind::Float;
      o.number = parse_float(v.string);
      return o;
    }
    if (tag == "t") {
      int64_t i = nonneg_int(v, "a tensor reference");
      EMBER_CHECK(size_t(i) < tensors_.size(), CheckpointError,
                  "invalid ember structure description: reference to missing tensor ", i);
      o.kind = Object::Kind::Tensor;
      o.integer = i;
      return o;
    }
    if (tag == "e") {
      const TensorEntry& e = claim(v, Role::Plain, "a tensor reference");
      o.kind = Object::Kind::Tensor;
      o.integer = -1 - int64_t(&e - h_.tensors.data());
      return o;
    }
    if (tag == "list" || tag == "tuple") {
      EMBER_CHECK(v.is_array(), CheckpointError, "invalid ember structure description: ", tag, " must hold an array");
      o.kind = tag == "list" ? Object::Kind::List : Object::Kind::Tuple;
      for (const JsonValue& item : v.array) o.items.push_back(decode(item, depth + 1));
      return o;
    }
    if (tag == "dict" || tag == "odict") {
      EMBER_CHECK(v.is_array(), CheckpointError, "invalid ember structure description: ", tag, " must hold an array");
      o.kind = tag == "dict" ? Object::Kind::Dict : Object::Kind::OrderedDict;
      for (const JsonValue& pair : v.array) {
        EMBER_CHECK(pair.is_array() && pair.array.size() == 2, CheckpointError,
                    "invalid ember structure description: dict items must be [key, value] pairs");
        const JsonValue& k = pair.array[0];
        EMBER_CHECK(k.is_string() || k.is_int() || k.type == JsonValue::Type::Bool, CheckpointError,
                    "invalid ember structure description: dict keys must be strings, integers or booleans");
        o.keys.push_back(decode(k, depth + 1));
        o.items.push_back(decode(pair.array[1], depth + 1));
      }
      return o;
    }
    throw CheckpointError(str("invalid ember structure description: unknown node \"", tag, "\""));
  }

  static double parse_float(const std::string& s) {
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    double d = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), d);
    EMBER_CHECK(r.ec == std::errc() && r.ptr == s.data() + s.size() && std::isfinite(d), CheckpointError,
                "invalid ember structure description: bad float \"", s, "\"");
    return d;
  }

  void materialize() {
    // 1. Allocate every storage, queueing the reads of those that are one
    //    entry's bytes; 2. read them all at once; 3. rebuild the scattered
    //    storages, move storages to their devices, build the views.
    std::vector<ReadJob> jobs;
    for (StorageDesc& s : storages_) {
      if (s.entry) s.storage = entry_storage(src_, *s.entry, s.max_item, jobs);
    }
    std::vector<std::shared_ptr<Storage>> plain_storage(h_.tensors.size());
    for (size_t i = 0; i < h_.tensors.size(); ++i) {
      if (role_[i] != Role::Plain) continue;
      plain_storage[i] = entry_storage(src_, h_.tensors[i], itemsize(h_.tensors[i].dtype), jobs);
    }
    src_.read_all(jobs);

    for (size_t k = 0; k < storages_.size(); ++k) {
      StorageDesc& s = storages_[k];
      if (!s.entry) {
        s.storage = allocate_host_storage(s.nbytes);
        if (s.nbytes) std::memset(s.storage->data, 0, s.nbytes);
        for (const TensorDesc& t : tensors_) {
          if (t.storage != k || t.entry->nbytes() == 0) continue;
          const char* bytes = src_.pointer() ? src_.pointer() + t.entry->begin : nullptr;
          std::unique_ptr<char[]> tmp;
          if (!bytes) {
            tmp.reset(new char[t.entry->nbytes()]);
            src_.read(t.entry->begin, t.entry->nbytes(), tmp.get());
            bytes = tmp.get();
          }
          const size_t item = itemsize(t.dtype);
          strided_copy(static_cast<char*>(s.storage->data) + t.offset * int64_t(item), t.strides, bytes,
                       contiguous_strides(t.shape), t.shape, item);
        }
      }
      s.storage = move_storage(std::move(s.storage), s.saved_device, opt_);
      s.version = new_version();
    }
    for (TensorDesc& t : tensors_) {
      const StorageDesc& s = storages_[t.storage];
      t.tensor = make_tensor(s.storage, s.version, t.dtype, t.shape, t.strides, t.offset);
    }
    for (size_t i = 0; i < h_.tensors.size(); ++i) {
      if (role_[i] != Role::Plain) continue;
      const TensorEntry& e = h_.tensors[i];
      auto storage = move_storage(std::move(plain_storage[i]), "cpu", opt_);
      plain_[i] = make_tensor(storage, new_version(), e.dtype, e.shape, contiguous_strides(e.shape), 0);
    }
  }

  void fill(Object& o) {
    if (o.kind == Object::Kind::Tensor) {
      o.tensor = o.integer >= 0 ? tensors_[size_t(o.integer)].tensor : plain_[size_t(-1 - o.integer)];
      o.integer = 0;
      return;
    }
    for (Object& item : o.items) fill(item);
  }

  const ParsedHeader& h_;
  Source& src_;
  const LoadOptions& opt_;
  std::unordered_map<std::string, size_t> entry_index_;
  std::vector<Role> role_;
  std::vector<Tensor> plain_;
  std::vector<StorageDesc> storages_;
  std::vector<TensorDesc> tensors_;
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
