// Checkpoint format tests: the strict JSON reader, safetensors header
// validation (every hostile case must raise CheckpointError naming the
// problem, never crash), encoding, atomic writes and view helpers.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "csrc/error.h"
#include "csrc/io/checkpoint_util.h"
#include "csrc/io/json.h"
#include "csrc/io/safetensors.h"

using namespace ember;
using namespace ember::io;

namespace {

// Runs f and checks that it throws CheckpointError whose message contains
// `words`.
template <typename F>
void expect_checkpoint_error(F f, const std::string& words) {
  try {
    f();
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos)
        << "message \"" << e.what() << "\" does not mention \"" << words << "\"";
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected CheckpointError mentioning \"" << words << "\", got another exception: " << e.what();
    return;
  }
  ADD_FAILURE() << "expected CheckpointError mentioning \"" << words << "\", nothing was thrown";
}

JsonValue parse(const std::string& s) { return parse_json(s, 16, "test"); }

void expect_json_error(const std::string& text, const std::string& words) {
  expect_checkpoint_error([&] { parse(text); }, words);
}

// A file: 8-byte length, header text, data bytes.
std::string make_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = char((n >> (8 * i)) & 0xff);
  return out + header + data;
}

ParsedHeader parse_file(const std::string& file) {
  return parse_header(reinterpret_cast<const uint8_t*>(file.data()), file.size());
}

void expect_file_error(const std::string& header, const std::string& data, const std::string& words) {
  std::string f = make_file(header, data);
  expect_checkpoint_error([&] { parse_file(f); }, words);
}

std::string valid_file() {
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<int64_t> b = {7, 8};
  std::vector<uint8_t> c = {1, 0, 1};
  std::vector<EntryToWrite> entries(3);
  entries[0] = {"a", DType::Float32, {2, 3}, a.data(), 24};
  entries[1] = {"b", DType::Int64, {2}, b.data(), 16};
  entries[2] = {"c", DType::Bool, {3}, c.data(), 3};
  return encode_to_bytes(entries, {{"format", "pt"}, {"k\"ey", "v\nal\u00e9"}});
}

}  // namespace

// ------------------------------------------------------------------ JSON

TEST(Json, ParsesValuesAndKeepsKeyOrder) {
  JsonValue v = parse(R"( {"z": [1, -2, 3.5, true, false, null], "a": {"s": "x\"y\u00e9\ud83d\ude00"}} )");
  ASSERT_TRUE(v.is_object());
  ASSERT_EQ(v.object.size(), 2u);
  EXPECT_EQ(v.object[0].first, "z");
  EXPECT_EQ(v.object[1].first, "a");
  const JsonValue& z = v.object[0].second;
  EXPECT_EQ(z.array[0].integer, 1);
  EXPECT_EQ(z.array[1].integer, -2);
  EXPECT_EQ(z.array[2].type, JsonValue::Type::Float);
  EXPECT_DOUBLE_EQ(z.array[2].number, 3.5);
  EXPECT_TRUE(z.array[3].boolean);
  EXPECT_TRUE(z.array[5].is_null());
  EXPECT_EQ(v.find("a")->find("s")->string, "x\"y\xc3\xa9\xf0\x9f\x98\x80");
}

TEST(Json, IntegerLimits) {
  EXPECT_EQ(parse("9223372036854775807").integer, INT64_MAX);
  EXPECT_EQ(parse("-9223372036854775808").integer, INT64_MIN);
  expect_json_error("9223372036854775808", "out of range");
  expect_json_error("-9223372036854775809", "out of range");
  expect_json_error("184467440737095516160", "out of range");
  expect_json_error("1e400", "out of range");
}

TEST(Json, RejectsWhatRfc8259Rejects) {
  expect_json_error("", "unexpected end");
  expect_json_error("{\"a\":1,}", "expected a string key");
  expect_json_error("[1,]", "unexpected character");
  expect_json_error("[1 2]", "expected ','");
  expect_json_error("01", "leading zeros");
  expect_json_error("1.", "digits expected");
  expect_json_error("1e", "digits expected");
  expect_json_error("NaN", "unexpected character");
  expect_json_error("Infinity", "unexpected character");
  expect_json_error("{\"a\":1} x", "after the JSON value");
  expect_json_error("// c\n{}", "unexpected character");
  expect_json_error("\"a\tb\"", "control character");
  expect_json_error("\"\\x\"", "invalid escape");
  expect_json_error("\"\\u12\"", "\\u escape");
  expect_json_error("\"\\u12zz\"", "invalid \\u escape");
  expect_json_error("\"\\ud800\"", "lone high surrogate");
  expect_json_error("\"\\udc00\"", "lone low surrogate");
  expect_json_error("\"\\ud800\\u0041\"", "invalid surrogate pair");
  expect_json_error("\"abc", "unterminated string");
  expect_json_error("{\"a\" 1}", "expected ':'");
  expect_json_error("{\"a\":1", "unexpected end of input inside an object");
  expect_json_error("tru", "unexpected character");
}

TEST(Json, DuplicateKeysAreRefused) {
  expect_json_error(R"({"a": 1, "b": 2, "a": 3})", "duplicate key \"a\"");
  // The same key spelled with an escape is still the same key.
  expect_json_error(R"({"a": 1, "\u0061": 2})", "duplicate key");
  // Keys in different objects may repeat.
  EXPECT_NO_THROW(parse(R"({"a": {"a": 1}})"));
}

TEST(Json, InvalidUtf8IsRefused) {
  expect_json_error("\"\xc0\x80\"", "invalid UTF-8");          // overlong
  expect_json_error("\"\xed\xa0\x80\"", "invalid UTF-8");      // encoded surrogate
  expect_json_error("\"\xf5\x80\x80\x80\"", "invalid UTF-8");  // above U+10FFFF
  expect_json_error("\"\xe2\x82\"", "invalid UTF-8");          // truncated sequence
  expect_json_error("\"\x80\"", "invalid UTF-8");              // stray continuation byte
  EXPECT_TRUE(is_valid_utf8("h\xc3\xa9llo \xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xff"));
}

TEST(Json, DepthIsCapped) {
  std::string deep(17, '[');
  deep += std::string(17, ']');
  expect_json_error(deep, "nesting deeper than 16");
  std::string ok(16, '[');
  ok += std::string(16, ']');
  EXPECT_NO_THROW(parse(ok));
  // Far deeper than any stack: still a clean error.
  std::string huge(1000000, '[');
  expect_json_error(huge, "nesting deeper");
}

TEST(Json, WriterRoundTrips) {
  JsonValue v = parse(R"({"s": "q\"\\\n\t\u0001\u00e9", "f": 0.1, "g": 1e300, "i": -5, "a": [null, true]})");
  std::string text = to_json(v);
  JsonValue w = parse(text);
  EXPECT_EQ(w.find("s")->string, v.find("s")->string);
  EXPECT_EQ(w.find("f")->number, 0.1);
  EXPECT_EQ(w.find("g")->number, 1e300);
  EXPECT_EQ(w.find("i")->integer, -5);
  EXPECT_EQ(to_json(w), text);
  std::string out;
  EXPECT_THROW(append_json_string(out, "\xff"), CheckpointError);
}

// ------------------------------------------------------------------ safetensors

TEST(Safetensors, EncodesAndParsesBack) {
  std::string f = valid_file();
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(f[i]);
  EXPECT_EQ((8 + n) % 8, 0u) << "header padded to 8 bytes";
  EXPECT_EQ(f[8], '{');
  ParsedHeader h = parse_file(f);
  ASSERT_EQ(h.tensors.size(), 3u);
  EXPECT_EQ(h.tensors[0].name, "a");  // header order is the caller's
  EXPECT_EQ(h.tensors[0].dtype, DType::Float32);
  EXPECT_EQ(h.tensors[0].shape, (Shape{2, 3}));
  EXPECT_EQ(h.tensors[1].begin, 0u) << "8-byte items first: aligned without padding";
  EXPECT_EQ(h.tensors[0].begin, 16u);
  EXPECT_EQ(h.tensors[2].begin, 40u);
  ASSERT_TRUE(h.has_metadata);
  EXPECT_EQ(*h.find_metadata("k\"ey"), "v\nal\u00e9");
  float a1;
  std::memcpy(&a1, f.data() + h.data_start + h.tensors[0].begin + 4, 4);
  EXPECT_EQ(a1, 2.0f);
}

TEST(Safetensors, EmptyFileAndZeroSizedTensors) {
  ParsedHeader h = parse_file(encode_to_bytes({}, {}));
  EXPECT_TRUE(h.tensors.empty());
  std::vector<EntryToWrite> e(2);
  e[0] = {"z", DType::Float32, {0, 3}, nullptr, 0};
  e[1] = {"s", DType::Float64, {}, "\0\0\0\0\0\0\xf0\x3f", 8};
  h = parse_file(encode_to_bytes(e, {}));
  EXPECT_EQ(h.tensors[0].nbytes(), 0u);
  EXPECT_EQ(h.tensors[1].shape.size(), 0u);
}

TEST(Safetensors, AllDtypeNames) {
  const char* names[] = {"BOOL", "U8", "I8", "I16", "I32", "I64", "F16", "BF16", "F32", "F64"};
  for (const char* n : names) {
    DType d;
    ASSERT_TRUE(dtype_from_safetensors_name(n, &d)) << n;
    EXPECT_STREQ(safetensors_dtype_name(d), n);
  }
  DType d;
  EXPECT_FALSE(dtype_from_safetensors_name("F8_E4M3", &d));
  EXPECT_FALSE(dtype_from_safetensors_name("f32", &d));
}

TEST(Safetensors, HostileLengthPrefix) {
  expect_checkpoint_error([] { parse_header(reinterpret_cast<const uint8_t*>("abc"), 3); }, "shorter than the 8-byte");
  expect_checkpoint_error([] { parse_file(std::string(7, '\0')); }, "shorter than the 8-byte");
  std::string big = make_file("{}", "");
  big[0] = char(0xff);
  big[1] = char(0xff);
  expect_checkpoint_error([&] { parse_file(big); }, "larger than the file");
  std::string huge = make_file("{}", "");
  huge[7] = char(0x7f);
  expect_checkpoint_error([&] { parse_file(huge); }, "larger than the cap");
  std::string tiny = make_file("", "");
  expect_checkpoint_error([&] { parse_file(tiny); }, "too small");
}

TEST(Safetensors, HostileHeaders) {
  expect_file_error("{\"a\":\xff}", "", "not valid UTF-8");
  expect_file_error("{\"a\": }", "", "invalid JSON");
  expect_file_error("[1, 2]  ", "", "not a JSON object");
  expect_file_error("  {}", "", "not a JSON object");
  expect_file_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                    std::string(8, '\0'), "duplicate key \"a\"");
  expect_file_error(R"({"a":{"dtype":"F8_E5M2","shape":[1],"data_offsets":[0,1]}})", std::string(1, '\0'),
                    "unknown dtype \"F8_E5M2\"");
  expect_file_error(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,4]}})",
                    std::string(4, '\0'), "overflows");
  expect_file_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", std::string(4, '\0'),
                    "need 8 bytes");
  expect_file_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", std::string(4, '\0'),
                    "end before they begin");
  expect_file_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", std::string(4, '\0'),
                    "out of range");
  expect_file_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                    std::string(8, '\0'), "overlapping");
  expect_file_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                    std::string(12, '\0'), "hole");
  expect_file_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(8, '\0'), "hole");
  expect_file_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", std::string(6, '\0'),
                    "trailing bytes");
  expect_file_error(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", std::string(4, '\0'), "negative");
  expect_file_error(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", std::string(4, '\0'), "integers");
  expect_file_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", std::string(4, '\0'), "two integers");
  expect_file_error(R"({"a":{"dtype":"F32","shape":[1]}})", std::string(4, '\0'), "missing data_offsets");
  expect_file_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", std::string(4, '\0'),
                    "unexpected key \"x\"");
  expect_file_error(R"({"a":[1]})", "", "expected an object");
  expect_file_error(R"({"__metadata__":{"k":1}})", "", "must be a string");
  expect_file_error(R"({"__metadata__":[]})", "", "__metadata__ must be an object");
  expect_file_error(R"({"__metadata__":{"k":"v","k":"w"}})", "", "duplicate key");
}

TEST(Safetensors, EveryTruncationIsRefused) {
  std::string f = valid_file();
  for (size_t len = 0; len < f.size(); ++len) {
    std::string cut = f.substr(0, len);
    EXPECT_THROW(parse_file(cut), CheckpointError) << "length " << len;
  }
  std::string longer = f + "x";
  expect_checkpoint_error([&] { parse_file(longer); }, "trailing bytes");
}

TEST(Safetensors, RandomCorruptionNeverCrashes) {
  const std::string f = valid_file();
  std::mt19937 rng(1234);
  int refused = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string g = f;
    int flips = 1 + int(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      size_t pos = rng() % g.size();
      if (rng() % 4 == 0 && pos < 8 + 64) pos %= 16;  // favour the length prefix
      g[pos] = char(rng() & 0xff);
    }
    if (rng() % 8 == 0) g.resize(rng() % g.size());
    try {
      parse_file(g);
    } catch (const CheckpointError&) {
      ++refused;
    }
    // Anything but CheckpointError escapes and fails the test.
  }
  EXPECT_GT(refused, 1000);
}

TEST(Safetensors, AtomicWriteAndStaleTempCleanup) {
  char dir_template[] = "/tmp/ember_test_io_XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string path = dir + "/ckpt.safetensors";
  std::vector<int32_t> v = {1, 2, 3};
  std::vector<EntryToWrite> e(1);
  e[0] = {"v", DType::Int32, {3}, v.data(), 12};
  write_file(path, e, {{"format", "pt"}});

  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes, encode_to_bytes(e, {{"format", "pt"}}));

  // A temporary file left by a writer that died, and one of a live writer.
  pid_t child = fork();
  if (child == 0) _exit(0);
  int status;
  waitpid(child, &status, 0);
  const std::string prefix = temp_file_prefix(path);
  EXPECT_EQ(prefix, dir + "/.ckpt.safetensors.ember-tmp-");
  const std::string stale = prefix + std::to_string(child) + "-0123456789abcdef";
  const std::string live = prefix + std::to_string(getpid()) + "-fedcba9876543210";
  const std::string other = dir + "/.other.ember-tmp-" + std::to_string(child) + "-00";
  for (const std::string& p : {stale, live, other}) std::ofstream(p) << "partial";
  v[0] = 42;
  write_file(path, e, {});
  struct stat st;
  EXPECT_NE(stat(stale.c_str(), &st), 0) << "stale temp file of a dead writer is removed";
  EXPECT_EQ(stat(live.c_str(), &st), 0) << "temp file of a live writer is kept";
  EXPECT_EQ(stat(other.c_str(), &st), 0) << "temp files of other targets are kept";
  std::ifstream in2(path, std::ios::binary);
  std::string bytes2((std::istreambuf_iterator<char>(in2)), std::istreambuf_iterator<char>());
  ParsedHeader h = parse_file(bytes2);
  int32_t first;
  std::memcpy(&first, bytes2.data() + h.data_start, 4);
  EXPECT_EQ(first, 42);
  EXPECT_THROW(write_file(dir + "/missing/x.safetensors", e, {}), Error);
  for (const std::string& p : {live, other, path}) std::remove(p.c_str());
  rmdir(dir.c_str());
}

// ------------------------------------------------------------------ view helpers

TEST(CheckpointUtil, StridedCopyTransposes) {
  // src is a 2x3 row-major matrix; copy its transpose (3x2 view) compactly.
  float src[6] = {0, 1, 2, 3, 4, 5};
  float dst[6] = {};
  io::detail::strided_copy(reinterpret_cast<char*>(dst), {2, 1}, reinterpret_cast<const char*>(src), {1, 3}, {3, 2}, 4);
  float expected[6] = {0, 3, 1, 4, 2, 5};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(dst[i], expected[i]);
  // A 0-d copy and an empty copy.
  double a = 2.5, b = 0;
  io::detail::strided_copy(reinterpret_cast<char*>(&b), {}, reinterpret_cast<const char*>(&a), {}, {}, 8);
  EXPECT_EQ(b, 2.5);
  io::detail::strided_copy(nullptr, {1}, nullptr, {1}, {0}, 8);
}

TEST(CheckpointUtil, CheckViewBounds) {
  EXPECT_NO_THROW(io::detail::check_view("t", DType::Float32, {2, 3}, {3, 1}, 0, 24));
  EXPECT_NO_THROW(io::detail::check_view("t", DType::Float32, {3, 2}, {1, 3}, 0, 24));
  EXPECT_NO_THROW(io::detail::check_view("t", DType::Float32, {0}, {1}, 6, 24));
  expect_checkpoint_error([] { io::detail::check_view("t", DType::Float32, {2, 3}, {3, 1}, 1, 24); }, "past the end");
  expect_checkpoint_error([] { io::detail::check_view("t", DType::Float32, {2}, {-1}, 1, 24); }, "negative stride");
  expect_checkpoint_error([] { io::detail::check_view("t", DType::Float32, {2}, {1, 1}, 0, 24); }, "strides for");
  expect_checkpoint_error(
      [] { io::detail::check_view("t", DType::Float64, {INT64_MAX, INT64_MAX}, {INT64_MAX, INT64_MAX}, 0, 24); },
      "too many elements");
  expect_checkpoint_error([] { io::detail::check_view("t", DType::Float32, {2}, {INT64_MAX}, INT64_MAX, 24); },
                          "past the end");
}
