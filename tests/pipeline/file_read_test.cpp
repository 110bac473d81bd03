// read_regular_file and the config loader facing files that are not regular
// files: a FIFO must not block, /dev/zero must not be read, a directory or an
// oversized file is refused, and every message names the path and what it is.
#include "pipeline/file_read.h"

#include <gtest/gtest.h>

#include <fstream>

#include "pipeline/config.h"
#include "tests/special_files.h"

namespace sluice {
namespace {

using test::finish_within;
using test::kHangLimit;
using test::SpecialFiles;

std::string read_error(const std::string& path, uint64_t max_bytes = kMaxConfigBytes) {
  const auto done = finish_within(
      kHangLimit, [path, max_bytes] { read_regular_file(path, max_bytes, "test file"); });
  if (!done) {
    ADD_FAILURE() << path << ": the read did not finish within 5 s";
    return "(hung)";
  }
  EXPECT_LT(done->seconds, 1.0) << path;
  return done->error;
}

TEST(FileRead, ReadsARegularFileWhole) {
  SpecialFiles files("read_regular");
  const std::string path = (files.dir() / "data.bin").string();
  std::string body(100000, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7);
  std::ofstream(path, std::ios::binary) << body;
  EXPECT_EQ(read_regular_file(path, kMaxConfigBytes, "test file"), body);
  std::vector<char> bytes = read_regular_file_bytes(path, kMaxConfigBytes, "test file");
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), body);
  // A symlink to a regular file is a regular file.
  const std::string link = (files.dir() / "link.bin").string();
  std::filesystem::create_symlink(path, link);
  EXPECT_EQ(read_regular_file(link, kMaxConfigBytes, "test file"), body);
}

TEST(FileRead, FifoIsRefusedWithoutBlocking) {
  SpecialFiles files("read_fifo");
  const std::string fifo = files.fifo("pipe.toml");
  const std::string e = read_error(fifo);
  EXPECT_NE(e.find(fifo), std::string::npos) << e;
  EXPECT_NE(e.find("is a FIFO"), std::string::npos) << e;
  EXPECT_NE(e.find("test file"), std::string::npos) << e;
}

TEST(FileRead, DevZeroIsRefusedWithoutReading) {
  SpecialFiles files("read_zero");
  const std::string zero = files.zero("zero.toml");
  const std::string e = read_error(zero);
  EXPECT_NE(e.find(zero), std::string::npos) << e;
  EXPECT_NE(e.find("is a character device"), std::string::npos) << e;
}

TEST(FileRead, DirectoryAndMissingFileAreRefused) {
  SpecialFiles files("read_dir");
  const std::string dir = files.dir().string();
  std::string e = read_error(dir);
  EXPECT_NE(e.find(dir + ": the test file is a directory"), std::string::npos) << e;
  const std::string missing = (files.dir() / "missing.toml").string();
  e = read_error(missing);
  EXPECT_NE(e.find(missing + ": cannot open the test file: No such file"), std::string::npos) << e;
}

TEST(FileRead, FileAboveTheLimitIsRefusedBeforeReading) {
  SpecialFiles files("read_large");
  const std::string path = (files.dir() / "big.bin").string();
  std::ofstream(path, std::ios::binary) << std::string(5000, 'x');
  std::string out = "previous";
  const FileReadResult r = try_read_regular_file(path, 4096, "test file", out);
  EXPECT_EQ(r.status, FileReadStatus::kTooLarge);
  EXPECT_NE(r.message.find(path + ": the test file is larger than the limit of 4096 bytes"),
            std::string::npos)
      << r.message;
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(try_read_regular_file(path, 5000, "test file", out).ok());
  EXPECT_EQ(out.size(), 5000u);
}

// Reads `path` as the config file (or through an include) and returns the errors.
std::string config_errors(const std::string& path) {
  std::vector<Diagnostic> errors;
  const auto done = finish_within(kHangLimit, [path] {
    std::vector<Diagnostic> errs;
    load_config(path, {}, errs);
    std::string all;
    for (const auto& d : errs) all += d.where.file + ": " + d.message + "\n";
    throw std::runtime_error(all);
  });
  if (!done) {
    ADD_FAILURE() << path << ": loading the config did not finish within 5 s";
    return "(hung)";
  }
  EXPECT_LT(done->seconds, 1.0) << path;
  return done->error;
}

TEST(FileRead, ConfigThatIsAFifoOrDevZeroIsRefused) {
  SpecialFiles files("config");
  const std::string fifo = files.fifo("pipe.toml");
  std::string e = config_errors(fifo);
  EXPECT_NE(e.find(fifo), std::string::npos) << e;
  EXPECT_NE(e.find("config file is a FIFO"), std::string::npos) << e;

  const std::string zero = files.zero("zero.toml");
  e = config_errors(zero);
  EXPECT_NE(e.find(zero), std::string::npos) << e;
  EXPECT_NE(e.find("config file is a character device"), std::string::npos) << e;

  const std::string main = (files.dir() / "main.toml").string();
  std::ofstream(main) << "[pipeline]\ninclude = [\"pipe.toml\"]\n";
  e = config_errors(main);
  EXPECT_NE(e.find("included file"), std::string::npos) << e;
  EXPECT_NE(e.find("is a FIFO"), std::string::npos) << e;
}

TEST(FileRead, ConfigDiagnosticsStillNameTheFile) {
  SpecialFiles files("config_syntax");
  const std::string path = (files.dir() / "bad.toml").string();
  std::ofstream(path) << "[pipeline]\nname = \n";
  const std::string e = config_errors(path);
  EXPECT_NE(e.find(path + ": "), std::string::npos) << e;
}

}  // namespace
}  // namespace sluice
