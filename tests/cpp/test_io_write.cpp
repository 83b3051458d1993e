// Checkpoint writing: strided entries gathered at write time, snapshots for
// background saves, the atomic writer's failure path, and the structure
// decoder on its own.
#include <gtest/gtest.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "csrc/error.h"
#include "csrc/io/atomic_file.h"
#include "csrc/io/checkpoint_decode.h"
#include "csrc/io/safetensors.h"
#include "csrc/io/snapshot.h"

using namespace ember;
using namespace ember::io;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/ember_test_io_write_XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() {
    if (DIR* d = opendir(path.c_str())) {
      while (dirent* e = readdir(d))
        if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) unlink((path + "/" + e->d_name).c_str());
      closedir(d);
    }
    rmdir(path.c_str());
  }
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    if (DIR* d = opendir(path.c_str())) {
      while (dirent* e = readdir(d))
        if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) out.push_back(e->d_name);
      closedir(d);
    }
    return out;
  }
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

TEST(CheckpointWrite, StridedEntriesAreWrittenRowMajor) {
  // A 3x2 transpose of a row-major 2x3 matrix, and a plain entry after it.
  std::vector<float> m = {0, 1, 2, 3, 4, 5};
  std::vector<int64_t> k = {9, 8};
  std::vector<EntryToWrite> e(2);
  e[0] = {"t", DType::Float32, {3, 2}, m.data(), 24, {1, 3}};
  e[1] = {"k", DType::Int64, {2}, k.data(), 16};
  std::string bytes = encode_to_bytes(e, {});
  ParsedHeader h = parse_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  const TensorEntry* t = h.find_tensor("t");
  ASSERT_NE(t, nullptr);
  float got[6];
  std::memcpy(got, bytes.data() + h.data_start + t->begin, 24);
  const float expected[6] = {0, 3, 1, 4, 2, 5};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(got[i], expected[i]);

  TempDir dir;
  write_file(dir.path + "/f", e, {});
  EXPECT_EQ(read_all(dir.path + "/f"), bytes);
}

TEST(CheckpointWrite, SnapshotIsTheFileAndOwnsItsBytes) {
  // Large enough to be split into several copy pieces and huge pages.
  std::vector<float> big(5 << 20);
  for (size_t i = 0; i < big.size(); ++i) big[i] = float(i % 1000);
  std::vector<float> m = {0, 1, 2, 3, 4, 5};
  std::vector<EntryToWrite> e(3);
  e[0] = {"big", DType::Float32, {int64_t(big.size())}, big.data(), big.size() * 4};
  e[1] = {"t", DType::Float32, {3, 2}, m.data(), 24, {1, 3}};
  e[2] = {"empty", DType::Float64, {0, 4}, nullptr, 0};
  const Metadata meta = {{"format", "pt"}};
  const std::string expected = encode_to_bytes(e, meta);
  CheckpointSnapshot snap(e, meta);
  EXPECT_EQ(snap.file_size(), expected.size());
  big[7] = -1.0f;  // changes after the snapshot never reach the file
  m[0] = -1.0f;
  TempDir dir;
  snap.write_file(dir.path + "/a");
  snap.write_file(dir.path + "/b");  // a snapshot can be written again
  EXPECT_EQ(read_all(dir.path + "/a"), expected);
  EXPECT_EQ(read_all(dir.path + "/b"), expected);
  EXPECT_EQ(dir.files().size(), 2u) << "no temporary file left behind";
}

TEST(CheckpointWrite, UncommittedWriterLeavesTheTargetAlone) {
  TempDir dir;
  const std::string path = dir.path + "/ckpt";
  std::ofstream(path) << "old";
  {
    AtomicFileWriter w(path, 1 << 20);
    std::string chunk(100000, 'x');
    w.write(chunk.data(), chunk.size());
    // Destroyed without commit (as when serialization throws halfway).
  }
  EXPECT_EQ(read_all(path), "old");
  EXPECT_EQ(dir.files(), std::vector<std::string>{"ckpt"});
  // A reserved size larger than what was written does not pad the file.
  {
    AtomicFileWriter w(path, 1 << 20);
    w.write("new", 3);
    w.commit();
  }
  EXPECT_EQ(read_all(path), "new");
  EXPECT_THROW(AtomicFileWriter(dir.path + "/missing/x", 0), Error);
}

TEST(CheckpointDecode, OtherToolsFilesAreDictsOfTheirEntries) {
  std::vector<float> a = {1, 2};
  std::vector<uint8_t> b = {3};
  std::vector<EntryToWrite> e(2);
  e[0] = {"z", DType::Float32, {2}, a.data(), 8};
  e[1] = {"a", DType::UInt8, {1}, b.data(), 1};
  std::string bytes = encode_to_bytes(e, {});
  ParsedHeader h = parse_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  DecodedCheckpoint d = decode_checkpoint(h);
  ASSERT_EQ(d.root.kind, Object::Kind::Dict);
  ASSERT_EQ(d.root.keys.size(), 2u);
  EXPECT_EQ(d.root.keys[0].string, "z");  // header order, not sorted
  EXPECT_EQ(d.root.keys[1].string, "a");
  for (const Object& v : d.root.items) EXPECT_EQ(v.kind, Object::Kind::Tensor);
  for (EntryRole r : d.roles) EXPECT_EQ(r, EntryRole::Plain);
  EXPECT_TRUE(d.storages.empty() && d.tensors.empty());
}

TEST(CheckpointDecode, UnusedEntriesAndMissingStoragesAreRefused) {
  std::vector<float> a = {1, 2};
  std::vector<EntryToWrite> e(1);
  e[0] = {"x", DType::Float32, {2}, a.data(), 8};
  auto decode = [&](const Metadata& meta) {
    std::string bytes = encode_to_bytes(e, meta);
    ParsedHeader h = parse_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    return decode_checkpoint(h);
  };
  auto expect_error = [&](const Metadata& meta, const std::string& words) {
    try {
      decode(meta);
      ADD_FAILURE() << "no error for " << meta.back().second;
    } catch (const CheckpointError& err) {
      EXPECT_NE(std::string(err.what()).find(words), std::string::npos) << err.what();
    }
  };
  expect_error({{"ember.format_version", "1"}, {"ember.tree", "null"}}, "is not used");
  expect_error({{"ember.format_version", "1"}, {"ember.tree", "{\"t\":0}"}}, "missing tensor 0");
  expect_error({{"ember.format_version", "1"},
                {"ember.tensors", "[{\"storage\":3,\"dtype\":\"F32\",\"shape\":[2],\"strides\":[1],\"offset\":0}]"},
                {"ember.tree", "{\"t\":0}"}},
               "missing storage 3");
  expect_error({{"ember.format_version", "2"}, {"ember.tree", "null"}}, "format version");
  DecodedCheckpoint ok = decode({{"ember.format_version", "1"}, {"ember.tree", "{\"list\":[{\"e\":\"x\"},1]}"}});
  ASSERT_EQ(ok.root.kind, Object::Kind::List);
  EXPECT_EQ(ok.root.items[0].integer, -1);  // header entry 0
}
