// The checks pickle_load_bounded adds to LibTorch 1.13's unpickler, each found by
// the checkpoint fuzzer: a string length beyond the file (LibTorch allocated up to
// 4 GB first), a memo id far beyond the entries stored (the memo was resized to
// it: 17 GB), and a tensor claiming more bytes than its record holds (read past
// its allocation later). The fuzz inputs are in fuzz/corpus/checkpoint/crash-*.
#include "stages/train/pickle_read.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <vector>

#include "stages/train/trainer.h"

namespace sluice::train {
namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

std::string message_of(const std::string& pickle) {
  try {
    check_pickle_lengths(reinterpret_cast<const uint8_t*>(pickle.data()), pickle.size(), "t.pkl");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

// {'a': 1, 'bc': b'xyz'} as protocol 2 writes it, memo ids in order.
std::string well_formed() {
  return bytes({0x80, 2, '}', 'q', 0,   '(', 'X', 1, 0,   0, 0,   'a', 'q', 1,   'K', 1,   'X',
                2,    0, 0,   0,   'b', 'c', 'q', 2, 'C', 3, 'x', 'y', 'z', 'q', 3,   'u', '.'});
}

TEST(PickleScan, AWellFormedPickleIsAccepted) { EXPECT_EQ(message_of(well_formed()), ""); }

TEST(PickleScan, LengthsBeyondTheDataAreRefused) {
  const std::string unicode = bytes({0x80, 2, 'X', 0xfe, 0xff, 0xff, 0xff, 'a', 'b', 'c', '.'});
  EXPECT_NE(message_of(unicode).find("t.pkl declares 4294967294 bytes at offset 2 but only 4"),
            std::string::npos)
      << message_of(unicode);
  const std::string bytes8 = bytes({0x80, 2, 0x8e, 0, 0, 0, 0, 1, 0, 0, 0, 'x', '.'});
  EXPECT_NE(message_of(bytes8).find("declares 4294967296 bytes"), std::string::npos);
  const std::string short_one = bytes({0x80, 2, 'C', 9, 'x', '.'});
  EXPECT_NE(message_of(short_one).find("declares 9 bytes"), std::string::npos);
}

TEST(PickleScan, MemoIdsBeyondTheEntriesStoredAreRefused) {
  const std::string far = bytes({0x80, 2, '}', 'r', 0, 0, 0, 0x40, '.'});
  EXPECT_NE(message_of(far).find("memo entry 1073741824 at offset 3 after only 0"),
            std::string::npos)
      << message_of(far);
  EXPECT_EQ(message_of(bytes({0x80, 2, '}', 'q', 0, ']', 'q', 1, '.'})), "");
  EXPECT_NE(message_of(bytes({0x80, 2, '}', 'q', 0, ']', 'q', 5, '.'})).find("memo entry 5"),
            std::string::npos);
}

std::string error_of(const std::filesystem::path& file) {
  try {
    read_checkpoint_info(file.string());
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// The fuzzer's inputs that reach the unpickler through read_checkpoint_info end
// in one of the new refusals, not in an allocation of gigabytes or a read past
// a buffer (which the sanitized fuzz build reported).
TEST(PickleScan, FuzzFindingsAreRefusedByName) {
  const std::filesystem::path dir =
      std::filesystem::path(SLUICE_SOURCE_DIR) / "fuzz/corpus/checkpoint";
  int refused = 0;
  for (const char* name : {"crash-pickle-huge-string", "crash-pickle-huge-memo-id",
                           "crash-tensor-larger-than-record"}) {
    const std::string e = error_of(dir / name);
    SCOPED_TRACE(name);
    EXPECT_TRUE(e.find("declares") != std::string::npos ||
                e.find("memo entry") != std::string::npos ||
                e.find("storage claims") != std::string::npos ||
                e.find("reaches past") != std::string::npos)
        << e;
    refused += !e.empty();
  }
  EXPECT_EQ(refused, 3);
}

}  // namespace
}  // namespace sluice::train
