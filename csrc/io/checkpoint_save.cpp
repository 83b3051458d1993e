// Writing checkpoints: decides which bytes go into which safetensors entry so
// that shared storages are written once, views are written compactly, and a
// flat state dict stays readable by any safetensors reader. See checkpoint.h.
#include <charconv>
#include <cmath>
#include <memory>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "../backend.h"
#include "../error.h"
#include "checkpoint.h"
#include "checkpoint_util.h"
#include "safetensors.h"
#include "snapshot.h"

namespace ember::io {

using namespace detail;

namespace {

struct Leaf {
  Tensor tensor;
  std::string path;  // "model.fc.weight", "" for a bare tensor
};

std::string key_text(const Object& key) {
  switch (key.kind) {
    case Object::Kind::Str: return key.string;
    case Object::Kind::Int: return std::to_string(key.integer);
    case Object::Kind::Bool: return key.boolean ? "True" : "False";
    default: throw TypeError("ember.save: dict keys must be str, int or bool");
  }
}

std::string join_path(const std::string& parent, const std::string& part) {
  return parent.empty() ? part : parent + "." + part;
}

void check_depth(int depth) {
  EMBER_CHECK(depth <= kMaxStructureDepth, ValueError, "ember.save: the object nests containers deeper than ",
              kMaxStructureDepth, " levels (or contains itself)");
}

void collect_leaves(const Object& o, int depth, const std::string& path, std::vector<Leaf>& leaves) {
  check_depth(depth);
  switch (o.kind) {
    case Object::Kind::Tensor:
      EMBER_CHECK(o.tensor != nullptr, ValueError, "ember.save: undefined tensor at ", path.empty() ? "top level" : path);
      leaves.push_back({o.tensor, path});
      break;
    case Object::Kind::List:
    case Object::Kind::Tuple:
      for (size_t i = 0; i < o.items.size(); ++i) collect_leaves(o.items[i], depth + 1, join_path(path, std::to_string(i)), leaves);
      break;
    case Object::Kind::Dict:
    case Object::Kind::OrderedDict:
      for (size_t i = 0; i < o.items.size(); ++i)
        collect_leaves(o.items[i], depth + 1, join_path(path, key_text(o.keys[i])), leaves);
      break;
    default: break;
  }
}

std::string float_text(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

JsonValue key_json(const Object& key) {
  JsonValue j;
  switch (key.kind) {
    case Object::Kind::Str: return json_str(key.string);
    case Object::Kind::Int: return json_int(key.integer);
    case Object::Kind::Bool:
      j.type = JsonValue::Type::Bool;
      j.boolean = key.boolean;
      return j;
    default: throw TypeError("ember.save: dict keys must be str, int or bool");
  }
}

// The tree description; leaf references are handed out in collect order.
JsonValue tree_json(const Object& o, const std::vector<JsonValue>& refs, size_t& next_leaf) {
  JsonValue j;
  switch (o.kind) {
    case Object::Kind::None: return j;
    case Object::Kind::Bool:
      j.type = JsonValue::Type::Bool;
      j.boolean = o.boolean;
      return j;
    case Object::Kind::Int: return json_int(o.integer);
    case Object::Kind::Float:
      j = json_object();
      json_set(j, "float", json_str(float_text(o.number)));
      return j;
    case Object::Kind::Str: return json_str(o.string);
    case Object::Kind::Tensor: return refs[next_leaf++];
    case Object::Kind::List:
    case Object::Kind::Tuple: {
      JsonValue items = json_array();
      for (const Object& item : o.items) items.array.push_back(tree_json(item, refs, next_leaf));
      j = json_object();
      json_set(j, o.kind == Object::Kind::List ? "list" : "tuple", std::move(items));
      return j;
    }
    case Object::Kind::Dict:
    case Object::Kind::OrderedDict: {
      JsonValue pairs = json_array();
      for (size_t i = 0; i < o.items.size(); ++i) {
        JsonValue pair = json_array();
        pair.array.push_back(key_json(o.keys[i]));
        pair.array.push_back(tree_json(o.items[i], refs, next_leaf));
        pairs.array.push_back(std::move(pair));
      }
      j = json_object();
      json_set(j, o.kind == Object::Kind::Dict ? "dict" : "odict", std::move(pairs));
      return j;
    }
  }
  return j;
}

// A flat dict of str -> tensor with names safetensors can hold: written with
// one entry per key.
bool is_flat_state_dict(const Object& o) {
  if (o.kind != Object::Kind::Dict && o.kind != Object::Kind::OrderedDict) return false;
  for (size_t i = 0; i < o.items.size(); ++i) {
    if (o.keys[i].kind != Object::Kind::Str || o.items[i].kind != Object::Kind::Tensor) return false;
    if (o.keys[i].string.empty() || o.keys[i].string == "__metadata__") return false;
  }
  return true;
}

// One tensor geometry to store (a distinct view, or in flat mode one key).
struct Member {
  Tensor t;
  std::vector<size_t> leaves;
  std::string name;  // entry name (flat: the key; tree: from the first leaf's path)
  bool has_extent = false;  // non-empty with non-negative strides
  uint64_t lo = 0, hi = 0;  // byte extent inside the storage
  uint64_t compact_bytes() const { return uint64_t(t->numel()) * itemsize(t->dtype); }
};

class Planner {
 public:
  explicit Planner(const Object& root) : root_(root) {}

  void plan() {
    std::vector<Leaf> leaves;
    collect_leaves(root_, 0, "", leaves);
    refs_.resize(leaves.size());
    const bool flat = is_flat_state_dict(root_);

    // Members: in flat mode one per key; otherwise one per distinct view.
    std::vector<Member> members;
    std::unordered_map<std::string, size_t> by_geometry;
    for (size_t i = 0; i < leaves.size(); ++i) {
      const Tensor& t = leaves[i].tensor;
      std::string geometry = geometry_key(t);
      if (!flat) {
        auto it = by_geometry.find(geometry);
        if (it != by_geometry.end()) {
          members[it->second].leaves.push_back(i);
          continue;
        }
        by_geometry.emplace(geometry, members.size());
      }
      Member m;
      m.t = t;
      m.leaves.push_back(i);
      m.name = flat ? leaves[i].path : unique_name(leaves[i].path);
      if (flat) used_names_.insert(m.name);
      compute_extent(m);
      members.push_back(std::move(m));
    }
    // Groups of members by storage, in first-appearance order.
    std::vector<std::vector<size_t>> groups;
    std::unordered_map<const Storage*, size_t> group_of;
    for (size_t i = 0; i < members.size(); ++i) {
      const Storage* s = members[i].t->storage.get();
      auto it = group_of.find(s);
      if (it == group_of.end()) {
        group_of.emplace(s, groups.size());
        groups.push_back({i});
      } else {
        groups[it->second].push_back(i);
      }
    }
    for (const auto& g : groups) {
      std::vector<Member*> sharing, alone;
      for (size_t i : g) (members[i].has_extent ? sharing : alone).push_back(&members[i]);
      if (sharing.size() >= 2 && can_share(sharing)) {
        if (flat) write_scatter_group(sharing);
        else write_span_group(sharing);
      } else {
        alone.insert(alone.end(), sharing.begin(), sharing.end());
      }
      for (Member* m : alone) write_alone(*m);
    }

    size_t next_leaf = 0;
    JsonValue tree = tree_json(root_, refs_, next_leaf);
    metadata_.emplace_back("format", "pt");
    metadata_.emplace_back(kFormatVersionKey, kFormatVersion);
    metadata_.emplace_back(kTreeKey, to_json(tree));
    if (!storages_.array.empty()) metadata_.emplace_back(kStoragesKey, to_json(storages_));
    if (!tensors_.array.empty()) metadata_.emplace_back(kTensorsKey, to_json(tensors_));
  }

  const std::vector<EntryToWrite>& entries() const { return entries_; }
  const Metadata& metadata() const { return metadata_; }

 private:
  static std::string geometry_key(const Tensor& t) {
    std::string k = std::to_string(reinterpret_cast<uintptr_t>(t->storage.get()));
    k += '/';
    k += std::to_string(int(t->dtype));
    k += '/';
    k += std::to_string(t->offset);
    for (size_t d = 0; d < t->shape.size(); ++d) k += "/" + std::to_string(t->shape[d]) + ":" + std::to_string(t->strides[d]);
    return k;
  }

  std::string unique_name(const std::string& path) {
    std::string base = path.empty() ? "tensor" : path;
    if (base == "__metadata__") base = "_" + base;
    std::string name = base;
    for (int n = 2; used_names_.count(name); ++n) name = base + "#" + std::to_string(n);
    used_names_.insert(name);
    return name;
  }

  static void compute_extent(Member& m) {
    const Tensor& t = m.t;
    if (t->numel() == 0 || t->offset < 0) return;
    uint64_t last = uint64_t(t->offset);
    for (size_t d = 0; d < t->shape.size(); ++d) {
      if (t->strides[d] < 0) return;
      last += uint64_t(t->shape[d] - 1) * uint64_t(t->strides[d]);
    }
    const uint64_t item = itemsize(t->dtype);
    m.has_extent = true;
    m.lo = uint64_t(t->offset) * item;
    m.hi = (last + 1) * item;
  }

  // Sharing is kept when the used byte range is no larger than writing each
  // view compactly (true for a view and its base, tied or repeated tensors),
  // and every view starts on an element boundary of that range.
  static bool can_share(const std::vector<Member*>& g) {
    uint64_t lo = UINT64_MAX, hi = 0, compact = 0;
    for (const Member* m : g) {
      lo = std::min(lo, m->lo);
      hi = std::max(hi, m->hi);
      compact += m->compact_bytes();
    }
    if (hi - lo > compact) return false;
    for (const Member* m : g)
      if ((m->lo - lo) % itemsize(m->t->dtype)) return false;
    return true;
  }

  // Host bytes [lo, hi) of a tensor's storage: a pointer into CPU memory, or
  // a copy fetched from the device (cached per storage).
  const char* host_bytes(const Tensor& t, uint64_t lo, uint64_t hi) {
    // Entries point into the storage: keep it alive for as long as they
    // exist, even if another thread rebinds the tensor (`t.data = ...`)
    // while a background snapshot copies without the GIL.
    kept_storages_.insert(t->storage);
    const Storage* s = t->storage.get();
    EMBER_CHECK(hi <= s->nbytes, Error, "ember.save: a tensor reaches past the end of its storage");
    if (s->device.is_cpu()) return static_cast<const char*>(s->data) + lo;
    auto it = device_copies_.find(s);
    if (it == device_copies_.end()) {
      std::unique_ptr<char[]> buf(new char[s->nbytes ? s->nbytes : 1]);
      if (s->nbytes) backend(s->device).copy_to_host(buf.get(), s->data, s->nbytes, s->device.index);
      it = device_copies_.emplace(s, std::move(buf)).first;
    }
    return it->second.get() + lo;
  }

  // An entry holding a member's elements in row-major order: its memory
  // when contiguous, else its strides, gathered when the entry is written.
  void add_member_entry(const Member& m) {
    const Tensor& t = m.t;
    EntryToWrite e;
    e.name = m.name;
    e.dtype = t->dtype;
    e.shape = t->shape;
    e.nbytes = m.compact_bytes();
    if (e.nbytes) {
      e.data = host_bytes(t, m.lo, m.hi);  // element 0 (strides are non-negative here)
      if (!t->is_contiguous()) e.strides = t->strides;
    }
    entries_.push_back(std::move(e));
  }

  void add_entry(const std::string& name, DType dtype, const Shape& shape, const void* data, uint64_t nbytes) {
    EntryToWrite e;
    e.name = name;
    e.dtype = dtype;
    e.shape = shape;
    e.data = data;
    e.nbytes = nbytes;
    entries_.push_back(std::move(e));
  }

  size_t add_storage(JsonValue desc, const Device& device) {
    if (!device.is_cpu()) json_set(desc, "device", json_str(device.str()));
    storages_.array.push_back(std::move(desc));
    return storages_.array.size() - 1;
  }

  JsonValue add_tensor(size_t storage, const Tensor& t, const Shape& strides, int64_t offset, const std::string* entry) {
    JsonValue d = json_object();
    json_set(d, "storage", json_int(int64_t(storage)));
    json_set(d, "dtype", json_str(safetensors_dtype_name(t->dtype)));
    json_set(d, "shape", json_dims(t->shape));
    json_set(d, "strides", json_dims(strides));
    json_set(d, "offset", json_int(offset));
    if (entry) json_set(d, "entry", json_str(*entry));
    tensors_.array.push_back(std::move(d));
    JsonValue ref = json_object();
    json_set(ref, "t", json_int(int64_t(tensors_.array.size() - 1)));
    return ref;
  }

  void set_refs(const Member& m, const JsonValue& ref) {
    for (size_t leaf : m.leaves) refs_[leaf] = ref;
  }

  // A view alone on its storage (or not worth sharing): its own entry, compact.
  void write_alone(const Member& m) {
    const Tensor& t = m.t;
    if (!m.has_extent && t->numel() != 0) {
      // Negative strides or offsets (ember never makes them): go through a
      // contiguous copy by the core.
      throw Error("ember.save: cannot save a tensor with negative strides");
    }
    add_member_entry(m);
    if (t->device().is_cpu()) {
      JsonValue ref = json_object();
      json_set(ref, "e", json_str(m.name));
      set_refs(m, ref);
      return;
    }
    JsonValue s = json_object();
    json_set(s, "entry", json_str(m.name));
    size_t k = add_storage(std::move(s), t->device());
    set_refs(m, add_tensor(k, t, contiguous_strides(t->shape), 0, nullptr));
  }

  // Tree mode: the storage's used range once, as a 1-D entry; views into it.
  void write_span_group(const std::vector<Member*>& g) {
    uint64_t lo = UINT64_MAX, hi = 0;
    bool same_dtype = true;
    for (const Member* m : g) {
      lo = std::min(lo, m->lo);
      hi = std::max(hi, m->hi);
      same_dtype = same_dtype && m->t->dtype == g[0]->t->dtype;
    }
    const DType dtype = same_dtype ? g[0]->t->dtype : DType::UInt8;
    const uint64_t item = itemsize(dtype);
    const std::string& name = g[0]->name;
    add_entry(name, dtype, Shape{int64_t((hi - lo) / item)}, host_bytes(g[0]->t, lo, hi), hi - lo);
    JsonValue s = json_object();
    json_set(s, "entry", json_str(name));
    size_t k = add_storage(std::move(s), g[0]->t->device());
    for (Member* m : g) {
      const int64_t offset = int64_t((m->lo - lo) / itemsize(m->t->dtype));
      set_refs(*m, add_tensor(k, m->t, m->t->strides, offset, nullptr));
    }
    // Names reserved for the other members are simply not used.
  }

  // Flat mode: every key keeps its own entry; a {"nbytes"} storage rebuilds
  // the sharing on load.
  void write_scatter_group(const std::vector<Member*>& g) {
    uint64_t lo = UINT64_MAX, hi = 0;
    for (const Member* m : g) {
      lo = std::min(lo, m->lo);
      hi = std::max(hi, m->hi);
    }
    JsonValue s = json_object();
    json_set(s, "nbytes", json_int(int64_t(hi - lo)));
    size_t k = add_storage(std::move(s), g[0]->t->device());
    for (Member* m : g) {
      add_member_entry(*m);
      const int64_t offset = int64_t((m->lo - lo) / itemsize(m->t->dtype));
      set_refs(*m, add_tensor(k, m->t, m->t->strides, offset, &m->name));
    }
  }

  const Object& root_;
  std::vector<JsonValue> refs_;
  std::unordered_set<std::string> used_names_;
  std::vector<EntryToWrite> entries_;
  Metadata metadata_;
  JsonValue storages_ = json_array();
  JsonValue tensors_ = json_array();
  std::unordered_map<const Storage*, std::unique_ptr<char[]>> device_copies_;
  std::set<std::shared_ptr<Storage>> kept_storages_;
};

}  // namespace

void save_file(const Object& obj, const std::string& path) {
  Planner p(obj);
  p.plan();
  write_file(path, p.entries(), p.metadata());
}

CheckpointSnapshot snapshot(const Object& obj) {
  Planner p(obj);
  p.plan();
  return CheckpointSnapshot(p.entries(), p.metadata());
}

std::string save_bytes(const Object& obj) {
  Planner p(obj);
  p.plan();
  return encode_to_bytes(p.entries(), p.metadata());
}

}  // namespace ember::io
