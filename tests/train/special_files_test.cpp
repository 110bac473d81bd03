// Checkpoints (also what train.vgg `resume` and `sluice predict --checkpoint`
// read) and weights files that are a FIFO or a symlink to /dev/zero: refused
// in well under a second with a message naming the file, not a hang or an
// allocation of gigabytes.
#include <gtest/gtest.h>

#include "stages/train/trainer.h"
#include "stages/train/vgg.h"
#include "tests/special_files.h"

namespace sluice::train {
namespace {

using test::finish_within;
using test::kHangLimit;
using test::SpecialFiles;

void expect_refused(const std::string& path, std::function<void()> read, const char* kind) {
  const auto done = finish_within(kHangLimit, std::move(read));
  ASSERT_TRUE(done.has_value()) << path << ": did not finish within 5 s";
  EXPECT_LT(done->seconds, 1.0) << path;
  EXPECT_NE(done->error.find(path), std::string::npos) << done->error;
  EXPECT_NE(done->error.find(kind), std::string::npos) << done->error;
}

TEST(SpecialCheckpointFiles, FifoAndDevZeroAreRefused) {
  SpecialFiles files("checkpoint");
  const std::string fifo = files.fifo("last.pt");
  const std::string zero = files.zero("zero.pt");
  expect_refused(
      fifo, [fifo] { read_checkpoint_info(fifo); }, "checkpoint is a FIFO");
  expect_refused(
      zero, [zero] { read_checkpoint_info(zero); }, "checkpoint is a character device");
  expect_refused(
      fifo, [fifo] { read_tensor_dict(fifo); }, "weights file is a FIFO");
  expect_refused(
      zero, [zero] { read_tensor_dict(zero); }, "weights file is a character device");
}

}  // namespace
}  // namespace sluice::train
