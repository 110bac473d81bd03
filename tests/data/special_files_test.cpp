// The data readers facing a FIFO or a symlink to /dev/zero where a file should
// be: the CelebA attribute and partition files, a csv.index file and an image.
// Each must give up in well under a second with a message naming the file,
// instead of blocking in open() or reading until memory runs out.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "stages/data/celeba_index.h"
#include "stages/data/jpeg_decoder.h"
#include "stages/data/synth_celeba.h"
#include "tests/special_files.h"

namespace sluice::data {
namespace {

namespace fs = std::filesystem;
using test::finish_within;
using test::kHangLimit;
using test::SpecialFiles;

// The error `read` ends with; a failure if it hangs, takes a second or succeeds.
std::string error_of(const std::string& what, std::function<void()> read) {
  const auto done = finish_within(kHangLimit, std::move(read));
  if (!done) {
    ADD_FAILURE() << what << ": did not finish within 5 s";
    return "(hung)";
  }
  EXPECT_LT(done->seconds, 1.0) << what;
  EXPECT_FALSE(done->error.empty()) << what << ": no error";
  return done->error;
}

class SpecialDataFiles : public ::testing::TestWithParam<const char*> {
 protected:
  // "fifo" or "zero": the kind of special file put in place of a real one.
  std::string replace(const SpecialFiles& files, const std::string& name) {
    const fs::path p = files.dir() / name;
    fs::remove(p);
    return std::string(GetParam()) == "fifo" ? files.fifo(name) : files.zero(name);
  }
  const char* expected_kind() const {
    return std::string(GetParam()) == "fifo" ? "is a FIFO" : "is a character device";
  }
};

TEST_P(SpecialDataFiles, CelebaAttributeAndPartitionFiles) {
  SpecialFiles files(std::string("celeba_") + GetParam());
  const std::string root = files.dir().string();
  write_synthetic_celeba({root, 12, 3, 80});
  for (const char* name : {"list_attr_celeba.csv", "list_eval_partition.csv"}) {
    const std::string path = replace(files, name);
    const std::string e = error_of(path, [root] {
      load_celeba_index(CelebaOptions{root, "Male", {}, {}});
    });
    EXPECT_NE(e.find(path), std::string::npos) << e;
    EXPECT_NE(e.find(expected_kind()), std::string::npos) << e;
    fs::remove(path);
    write_synthetic_celeba({root, 12, 3, 80});  // restores the file for the next round
  }
}

TEST_P(SpecialDataFiles, CsvIndexFile) {
  SpecialFiles files(std::string("csv_") + GetParam());
  const std::string path = replace(files, "list.csv");
  const std::string e = error_of(path, [path] {
    CsvIndexOptions o;
    o.file = path;
    load_csv_index(o);
  });
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find(expected_kind()), std::string::npos) << e;
}

TEST_P(SpecialDataFiles, ImageFile) {
  SpecialFiles files(std::string("image_") + GetParam());
  const std::string path = replace(files, "000001.jpg");
  const std::string e = error_of(path, [path] {
    Image img;
    const DecodeResult r = decode_image_file(path, {}, heap_buffer, img);
    if (r.status != DecodeStatus::kMissingFile)
      throw std::runtime_error("status " + std::string(decode_status_name(r.status)));
    throw std::runtime_error(r.message);
  });
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find(expected_kind()), std::string::npos) << e;
}

INSTANTIATE_TEST_SUITE_P(Kinds, SpecialDataFiles, ::testing::Values("fifo", "zero"));

TEST(SpecialDataFiles, ImageThatIsADirectoryIsMissingNotDecoded) {
  SpecialFiles files("image_dir");
  const std::string path = (files.dir() / "folder.jpg").string();
  fs::create_directories(path);
  Image img;
  const DecodeResult r = decode_image_file(path, {}, heap_buffer, img);
  EXPECT_EQ(r.status, DecodeStatus::kMissingFile);
  EXPECT_NE(r.message.find(path + ": the image is a directory"), std::string::npos) << r.message;
}

}  // namespace
}  // namespace sluice::data
