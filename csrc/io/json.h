// A small, strict JSON reader and writer, just enough for safetensors headers
// and ember's structure descriptions. Strict on purpose: checkpoint headers
// come from untrusted files, so anything RFC 8259 does not allow (comments,
// trailing commas, NaN, leading zeros, lone surrogates, invalid UTF-8) is an
// error, and so are duplicate object keys and numbers that do not fit. Every
// error is an ember::CheckpointError whose message says what and where.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ember::io {

struct JsonValue {
  enum class Type : uint8_t { Null, Bool, Int, Float, String, Array, Object };
  Type type = Type::Null;
  bool boolean = false;
  int64_t integer = 0;  // Int: numbers without fraction or exponent
  double number = 0;    // Float: numbers with a fraction or an exponent
  std::string string;
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;  // in file order, keys unique

  bool is_null() const { return type == Type::Null; }
  bool is_int() const { return type == Type::Int; }
  bool is_string() const { return type == Type::String; }
  bool is_array() const { return type == Type::Array; }
  bool is_object() const { return type == Type::Object; }
  // The member named `key` of an object, or null when absent.
  const JsonValue* find(std::string_view key) const;
};

const char* json_type_name(JsonValue::Type t);  // "object", "string", ...

// Parses one JSON value that spans all of `text` (whitespace around it is
// allowed). `max_depth` bounds the nesting of arrays and objects, so a
// hostile input cannot exhaust the stack. `what` names the document in errors
// ("safetensors header").
JsonValue parse_json(std::string_view text, int max_depth, const char* what);

// True when `bytes` is well-formed UTF-8 (no overlongs, no surrogates, no
// code points above U+10FFFF).
bool is_valid_utf8(std::string_view bytes);

// Appends `s` as a JSON string literal (quotes and escapes included). `s` must
// be valid UTF-8 (CheckpointError otherwise).
void append_json_string(std::string& out, std::string_view s);
// Appends a JSON rendering of `v` (compact, keys in stored order).
void append_json(std::string& out, const JsonValue& v);
std::string to_json(const JsonValue& v);

}  // namespace ember::io
