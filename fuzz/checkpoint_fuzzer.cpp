// Fuzz target: the checkpoint and weights readers of the training stages
// (stages/train/trainer.cpp, stages/train/vgg.cpp), which read .pt files with
// torch::pickle_load.
//
// Feeds: the input bytes as a .pt file (written to a scratch folder in
// /dev/shm) through
//   read_tensor_dict + load_state     (pretrained weights: train.vgg `weights`)
//   read_checkpoint_info              (`sluice predict`, eval.classifier)
//   Trainer::load_checkpoint          (train.vgg resume: weights, optimizer, RNG)
// on a tiny VGG (vgg11, channels / 64, gap head) on the CPU.
//
// Checks: a bad file is reported as a std::exception (std::runtime_error or
// c10::Error with the path), never a crash or sanitizer report in sluice's code.
//
// Seeds: SLUICE_FUZZ_WRITE_CHECKPOINT=FILE makes the harness write the tiny
// trainer's own checkpoint to FILE at start-up (how fuzz/corpus/checkpoint/ got
// its real checkpoint).
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <memory>
#include <string>

#include "fuzz/temp_file.h"
#include "stages/train/model.h"
#include "stages/train/trainer.h"
#include "stages/train/vgg.h"

namespace {

using sluice::train::Trainer;

Trainer& trainer() {
  static Trainer* t = [] {
    sluice::train::TrainerConfig c;
    c.model.arch = "vgg11";
    c.model.width_divisor = 64;
    c.model.head = sluice::train::Head::kGap;
    c.model.freeze = sluice::train::Freeze::kNone;
    c.device = "cpu";
    c.precision = "fp32";
    return new Trainer(c);  // lives for the process: torch's statics may outlive it
  }();
  return *t;
}

void write_seed_checkpoint(const char* path) {
  sluice::train::TrainingState state;
  state.epoch = 2;
  state.step = 10;
  state.input.height = 8;
  state.input.width = 8;
  state.config_text = "[pipeline]\nname = \"seed\"\n";
  const std::string bytes = trainer().checkpoint_bytes(state);
  std::ofstream(path, std::ios::binary) << bytes;
}

template <class F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const std::exception&) {
    // Reported to the user with the file name: the expected outcome for bad input.
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  trainer();
  if (const char* seed = std::getenv("SLUICE_FUZZ_WRITE_CHECKPOINT")) write_seed_checkpoint(seed);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = sluice::fuzz::scratch().write("input.pt", data, size);
  expect_clean([&] {
    const auto state = sluice::train::read_tensor_dict(path);
    expect_clean([&] {
      sluice::train::load_state(trainer().model(), state, sluice::train::LoadMode::kTransfer, path);
    });
  });
  expect_clean([&] { sluice::train::read_checkpoint_info(path); });
  expect_clean([&] { trainer().load_checkpoint(path, true); });
  return 0;
}
