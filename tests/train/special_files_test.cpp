// Checkpoints (also what train.vgg `resume` and `sluice predict --checkpoint`
// read) and weights files that are a FIFO or a symlink to /dev/zero: refused
// in well under a second with a message naming the file, not a hang or an
// allocation of gigabytes. The same for a TorchScript model file.
#include <gtest/gtest.h>

#include <filesystem>

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

// A TorchScript checkpoint records its model file by path and fingerprint;
// predict and eval.classifier rebuild the model from it. A model file that is a
// FIFO or /dev/zero must fail at once (it used to hang while being hashed); a
// directory must say so, not that the file "changed since the checkpoint".
TEST(SpecialCheckpointFiles, TorchScriptModelFileThatIsAFifoDevZeroOrFolderIsRefused) {
  SpecialFiles files("torchscript_model");
  const std::string fifo = files.fifo("model.pt");
  const std::string zero = files.zero("zero.pt");
  const std::string folder = (files.dir() / "folder.pt").string();
  std::filesystem::create_directories(folder);
  const auto build = [](const std::string& path) {
    return [path] {
      TrainerConfig c;
      c.model.arch = "torchscript";
      c.model.model_path = path;
      c.model.model_hash = "fnv1a64:0123456789abcdef";  // as a checkpoint records it
      c.device = "cpu";
      Trainer t(c);
    };
  };
  expect_refused(fifo, build(fifo), "model file is a FIFO");
  expect_refused(zero, build(zero), "model file is a character device");
  expect_refused(folder, build(folder), "model file is a directory");
}

}  // namespace
}  // namespace sluice::train
