// Strict JSON (RFC 8259) for checkpoint headers; see json.h for the rules.
#include "json.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_set>

#include "../error.h"

namespace ember::io {

const JsonValue* JsonValue::find(std::string_view key) const {
  for (const auto& kv : object)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

const char* json_type_name(JsonValue::Type t) {
  switch (t) {
    case JsonValue::Type::Null: return "null";
    case JsonValue::Type::Bool: return "boolean";
    case JsonValue::Type::Int: return "integer";
    case JsonValue::Type::Float: return "number";
    case JsonValue::Type::String: return "string";
    case JsonValue::Type::Array: return "array";
    case JsonValue::Type::Object: return "object";
  }
  return "?";
}

namespace {

// Length of the UTF-8 sequence starting at s[i], or 0 when it is invalid.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) -> unsigned { return static_cast<unsigned char>(s[k]); };
  unsigned c = byte(i);
  if (c < 0x80) return 1;
  size_t n;
  unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c == 0xE0) n = 3, lo = 0xA0;            // no overlongs
  else if (c == 0xED) n = 3, hi = 0x9F;            // no UTF-16 surrogates
  else if (c >= 0xE1 && c <= 0xEF) n = 3;
  else if (c == 0xF0) n = 4, lo = 0x90;            // no overlongs
  else if (c == 0xF4) n = 4, hi = 0x8F;            // nothing above U+10FFFF
  else if (c >= 0xF1 && c <= 0xF3) n = 4;
  else return 0;
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return n;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

class Parser {
 public:
  Parser(std::string_view text, int max_depth, const char* what) : s_(text), max_depth_(max_depth), what_(what) {}

  JsonValue parse_document() {
    skip_ws();
    JsonValue v = parse_value(0);
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected data after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw CheckpointError(str("invalid JSON in ", what_, " at byte ", pos_, ": ", why));
  }

  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[pos_]; }

  void skip_ws() {
    while (!at_end()) {
      char c = s_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') ++pos_;
      else break;
    }
  }

  void expect_literal(std::string_view lit) {
    if (s_.substr(pos_, lit.size()) != lit) fail("unexpected character");
    pos_ += lit.size();
  }

  JsonValue parse_value(int depth) {
    if (at_end()) fail("unexpected end of input");
    JsonValue v;
    char c = peek();
    switch (c) {
      case '{': return parse_object(depth + 1);
      case '[': return parse_array(depth + 1);
      case '"':
        v.type = JsonValue::Type::String;
        v.string = parse_string();
        return v;
      case 't':
        expect_literal("true");
        v.type = JsonValue::Type::Bool;
        v.boolean = true;
        return v;
      case 'f':
        expect_literal("false");
        v.type = JsonValue::Type::Bool;
        return v;
      case 'n':
        expect_literal("null");
        return v;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
        fail(str("unexpected character '", printable(c), "'"));
    }
  }

  static std::string printable(char c) {
    if (c >= 0x20 && c < 0x7f) return std::string(1, c);
    return str("\\x", "0123456789abcdef"[(unsigned char)c >> 4], "0123456789abcdef"[(unsigned char)c & 15]);
  }

  JsonValue parse_object(int depth) {
    if (depth > max_depth_) fail(str("nesting deeper than ", max_depth_, " levels"));
    ++pos_;  // '{'
    JsonValue v;
    v.type = JsonValue::Type::Object;
    std::unordered_set<std::string> seen;
    skip_ws();
    if (peek() == '}') {
      ++pos_;
      return v;
    }
    for (;;) {
      skip_ws();
      if (peek() != '"') fail("expected a string key");
      size_t key_start = pos_;
      std::string key = parse_string();
      // Duplicate keys make a file mean different things to different
      // readers, so they are refused (stricter than most JSON parsers).
      if (!seen.insert(key).second) {
        pos_ = key_start;
        fail(str("duplicate key \"", key, "\""));
      }
      skip_ws();
      if (peek() != ':') fail("expected ':' after an object key");
      ++pos_;
      skip_ws();
      JsonValue member = parse_value(depth);
      v.object.emplace_back(std::move(key), std::move(member));
      skip_ws();
      char c = peek();
      if (c == ',') {
        ++pos_;
        continue;
      }
      if (c == '}') {
        ++pos_;
        return v;
      }
      if (at_end()) fail("unexpected end of input inside an object");
      fail("expected ',' or '}' in an object");
    }
  }

  JsonValue parse_array(int depth) {
    if (depth > max_depth_) fail(str("nesting deeper than ", max_depth_, " levels"));
    ++pos_;  // '['
    JsonValue v;
    v.type = JsonValue::Type::Array;
    skip_ws();
    if (peek() == ']') {
      ++pos_;
      return v;
    }
    for (;;) {
      skip_ws();
      v.array.push_back(parse_value(depth));
      skip_ws();
      char c = peek();
      if (c == ',') {
        ++pos_;
        continue;
      }
      if (c == ']') {
        ++pos_;
        return v;
      }
      if (at_end()) fail("unexpected end of input inside an array");
      fail("expected ',' or ']' in an array");
    }
  }

  uint32_t parse_hex4() {
    if (pos_ + 4 > s_.size()) fail("truncated \\u escape");
    uint32_t cp = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[pos_++];
      cp <<= 4;
      if (c >= '0' && c <= '9') cp |= uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f') cp |= uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') cp |= uint32_t(c - 'A' + 10);
      else fail("invalid \\u escape");
    }
    return cp;
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (at_end()) fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail("control character inside a string");
      if (c == '\\') {
        ++pos_;
        if (at_end()) fail("unterminated string");
        char e = s_[pos_++];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            uint32_t cp = parse_hex4();
            if (cp >= 0xDC00 && cp <= 0xDFFF) fail("lone low surrogate in \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              if (s_.substr(pos_, 2) != "\\u") fail("lone high surrogate in \\u escape");
              pos_ += 2;
              uint32_t lo = parse_hex4();
              if (lo < 0xDC00 || lo > 0xDFFF) fail("invalid surrogate pair in \\u escape");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            append_utf8(out, cp);
            break;
          }
          default: fail(str("invalid escape '\\", printable(e), "'"));
        }
        continue;
      }
      size_t n = utf8_sequence_length(s_, pos_);
      if (n == 0) fail("invalid UTF-8");
      out.append(s_.data() + pos_, n);
      pos_ += n;
    }
  }

  JsonValue parse_number() {
    size_t start = pos_;
    bool negative = false;
    if (peek() == '-') {
      negative = true;
      ++pos_;
    }
    if (!(peek() >= '0' && peek() <= '9')) fail("invalid number");
    if (peek() == '0') {
      ++pos_;
      if (peek() >= '0' && peek() <= '9') fail("leading zeros are not allowed in numbers");
    } else {
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    bool is_float = false;
    if (peek() == '.') {
      is_float = true;
      ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("invalid number: digits expected after '.'");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      is_float = true;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("invalid number: digits expected in the exponent");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    const char* first = s_.data() + start;
    const char* last = s_.data() + pos_;
    JsonValue v;
    if (!is_float) {
      // Exact integers: offsets and shapes must never be rounded.
      uint64_t magnitude = 0;
      for (const char* p = first + (negative ? 1 : 0); p < last; ++p) {
        uint64_t d = uint64_t(*p - '0');
        if (magnitude > (std::numeric_limits<uint64_t>::max() - d) / 10) {
          pos_ = start;
          fail("integer out of range");
        }
        magnitude = magnitude * 10 + d;
      }
      const uint64_t limit = negative ? uint64_t(1) << 63 : (uint64_t(1) << 63) - 1;
      if (magnitude > limit) {
        pos_ = start;
        fail("integer out of range");
      }
      v.type = JsonValue::Type::Int;
      v.integer = negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
      return v;
    }
    double d = 0;
    auto r = std::from_chars(first, last, d);
    if (r.ec != std::errc() || r.ptr != last || !std::isfinite(d)) {
      pos_ = start;
      fail("number out of range");
    }
    v.type = JsonValue::Type::Float;
    v.number = d;
    return v;
  }

  std::string_view s_;
  size_t pos_ = 0;
  int max_depth_;
  const char* what_;
};

}  // namespace

JsonValue parse_json(std::string_view text, int max_depth, const char* what) {
  return Parser(text, max_depth, what).parse_document();
}

bool is_valid_utf8(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size();) {
    size_t n = utf8_sequence_length(bytes, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void append_json_string(std::string& out, std::string_view s) {
  if (!is_valid_utf8(s)) throw CheckpointError("cannot write a JSON string that is not valid UTF-8");
  static const char hex[] = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

void append_json(std::string& out, const JsonValue& v) {
  switch (v.type) {
    case JsonValue::Type::Null: out += "null"; break;
    case JsonValue::Type::Bool: out += v.boolean ? "true" : "false"; break;
    case JsonValue::Type::Int: out += std::to_string(v.integer); break;
    case JsonValue::Type::Float: {
      if (!std::isfinite(v.number)) throw CheckpointError("cannot write a non-finite number as JSON");
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof(buf), v.number);  // shortest round-trip form
      std::string_view text(buf, size_t(r.ptr - buf));
      out += text;
      // Keep floats recognisable as floats when read back.
      if (text.find_first_of(".eE") == std::string_view::npos) out += ".0";
      break;
    }
    case JsonValue::Type::String: append_json_string(out, v.string); break;
    case JsonValue::Type::Array:
      out += '[';
      for (size_t i = 0; i < v.array.size(); ++i) {
        if (i) out += ',';
        append_json(out, v.array[i]);
      }
      out += ']';
      break;
    case JsonValue::Type::Object:
      out += '{';
      for (size_t i = 0; i < v.object.size(); ++i) {
        if (i) out += ',';
        append_json_string(out, v.object[i].first);
        out += ':';
        append_json(out, v.object[i].second);
      }
      out += '}';
      break;
  }
}

std::string to_json(const JsonValue& v) {
  std::string out;
  append_json(out, v);
  return out;
}

}  // namespace ember::io
