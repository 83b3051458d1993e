// Decoding and validating ember's structure description (see
// checkpoint_decode.h and, for the format, checkpoint.h).
#include "checkpoint_decode.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "../error.h"
#include "checkpoint_util.h"

namespace ember::io {

using namespace detail;

namespace {

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

class Decoder {
 public:
  explicit Decoder(const ParsedHeader& h) : h_(h) {}

  DecodedCheckpoint decode() {
    for (size_t i = 0; i < h_.tensors.size(); ++i) entry_index_.emplace(h_.tensors[i].name, i);
    roles_.assign(h_.tensors.size(), EntryRole::Unused);

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
    DecodedCheckpoint out;
    out.root = decode(tree, 0);
    for (size_t i = 0; i < h_.tensors.size(); ++i)
      EMBER_CHECK(roles_[i] != EntryRole::Unused, CheckpointError, "invalid ember checkpoint: tensor entry \"",
                  h_.tensors[i].name, "\" is not used by the structure description");

    out.storages = std::move(storages_);
    out.tensors = std::move(tensors_);
    out.roles = std::move(roles_);
    return out;
  }

 private:
  const TensorEntry& claim(const JsonValue& name, EntryRole role, const std::string& what) {
    EMBER_CHECK(name.is_string(), CheckpointError, "invalid ember structure description: ", what,
                " must name an entry with a string");
    auto it = entry_index_.find(name.string);
    EMBER_CHECK(it != entry_index_.end(), CheckpointError, "invalid ember structure description: ", what,
                " references a missing tensor entry \"", name.string, "\"");
    EntryRole& r = roles_[it->second];
    if (role == EntryRole::Plain && r == EntryRole::Plain) return h_.tensors[it->second];  // same tensor, referenced again
    EMBER_CHECK(r == EntryRole::Unused, CheckpointError, "invalid ember structure description: tensor entry \"",
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
        s.entry = &claim(*entry, EntryRole::StorageBytes, what);
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
        t.entry = &claim(*entry, EntryRole::ViewBytes, what);
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
      const TensorEntry& e = claim(v, EntryRole::Plain, "a tensor reference");
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
  const ParsedHeader& h_;
  std::unordered_map<std::string, size_t> entry_index_;
  std::vector<EntryRole> roles_;
  std::vector<StorageDesc> storages_;
  std::vector<TensorDesc> tensors_;
};

}  // namespace

Device parse_saved_device(const std::string& s, const char* what) {
  try {
    Device d = parse_device(s);
    if (d.index < 0) d.index = 0;
    return d;
  } catch (const std::exception&) {
    throw CheckpointError(str("invalid ", what, " \"", s, "\""));
  }
}
DecodedCheckpoint decode_checkpoint(const ParsedHeader& h) { return Decoder(h).decode(); }

}  // namespace ember::io
