// Checkpoints are checked before they are used: weights that are NaN or
// infinite are refused naming the tensor (resume, eval and predict all load
// through load_state_into), a zip whose records declare far more bytes than it
// holds is refused before LibTorch inflates them, and class names a checkpoint
// carries are escaped before they are printed.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "stages/train/class_names.h"
#include "stages/train/trainer.h"
#include "stages/train/vgg.h"
#include "stages/train/zip_bounds.h"

namespace sluice::train {
namespace {
namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string load_error(const std::vector<std::pair<std::string, torch::Tensor>>& own,
                       const std::vector<std::pair<std::string, torch::Tensor>>& given) {
  try {
    load_state_into(own, {}, {}, "test model", given, LoadMode::kStrict, "ck.pt");
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(CheckpointIntegrity, NonFiniteWeightsAreRefusedNamingTheTensor) {
  const std::vector<std::pair<std::string, torch::Tensor>> own = {
      {"features.0.weight", torch::zeros({2, 3})}, {"classifier.bias", torch::zeros({2})}};
  const float kNaN = std::numeric_limits<float>::quiet_NaN();
  const float kInf = std::numeric_limits<float>::infinity();
  for (const float bad : {kNaN, kInf, -kInf}) {
    torch::Tensor bias = torch::ones({2});
    bias[1] = bad;
    const std::string e =
        load_error(own, {{"features.0.weight", torch::ones({2, 3})}, {"classifier.bias", bias}});
    EXPECT_NE(e.find("ck.pt: tensor 'classifier.bias' holds non-finite values"), std::string::npos)
        << e;
    EXPECT_EQ(own[1].second.sum().item<float>(), 0.0f) << "nothing copied from a refused file";
  }
  EXPECT_EQ(load_error(own, {{"features.0.weight", torch::ones({2, 3})},
                             {"classifier.bias", torch::ones({2})}}),
            "");
}

// A checkpoint as training writes it, one weight then set to NaN: a resumed
// run, eval.classifier and `sluice predict` (Trainer::load_checkpoint) refuse it.
TEST(CheckpointIntegrity, ACheckpointWithANaNWeightIsRefusedOnLoad) {
  const fs::path dir = temp_dir("sluice_checkpoint_nan");
  TrainerConfig config;
  config.model.width_divisor = 16;
  config.device = "cpu";
  Trainer a(config);
  TrainingState state;
  state.input.width = state.input.height = 32;
  state.input.channels = 3;
  const std::string bytes = a.checkpoint_bytes(state);
  torch::IValue v = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  auto model = v.toGenericDict().at("model").toGenericDict();
  std::string poisoned;
  for (const auto& e : model) {
    if (e.value().toTensor().is_floating_point()) {
      poisoned = e.key().toStringRef();
      e.value().toTensor().view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
      break;
    }
  }
  const std::vector<char> out = torch::pickle_save(v);
  const std::string path = (dir / "nan.pt").string();
  std::ofstream(path, std::ios::binary).write(out.data(), static_cast<std::streamsize>(out.size()));
  try {
    Trainer(config).load_checkpoint(path, /*with_optimizer=*/false);
    FAIL() << "loaded NaN weights";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("tensor '" + poisoned + "' holds non-finite values"),
              std::string::npos)
        << e.what();
  }
  fs::remove_all(dir);
}

void put(std::string& s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A zip of one deflated record `name` of `compressed` bytes declaring `declared`.
std::string zip_declaring(const std::string& name, uint64_t compressed, uint64_t declared,
                          int method = 8) {
  std::string z;
  put(z, 0x04034b50, 4);
  put(z, 20, 2), put(z, 0, 2), put(z, method, 2), put(z, 0, 4), put(z, 0, 4);
  put(z, compressed, 4), put(z, declared, 4), put(z, name.size(), 2), put(z, 0, 2);
  z += name + std::string(compressed, '\x03');
  const size_t directory = z.size();
  put(z, 0x02014b50, 4);
  put(z, 20, 2), put(z, 20, 2), put(z, 0, 2), put(z, method, 2), put(z, 0, 4), put(z, 0, 4);
  put(z, compressed, 4), put(z, declared, 4), put(z, name.size(), 2);
  put(z, 0, 2), put(z, 0, 2), put(z, 0, 2), put(z, 0, 2), put(z, 0, 4), put(z, 0, 4);
  z += name;
  const size_t directory_size = z.size() - directory;
  put(z, 0x06054b50, 4);
  put(z, 0, 2), put(z, 0, 2), put(z, 1, 2), put(z, 1, 2);
  put(z, directory_size, 4), put(z, directory, 4), put(z, 0, 2);
  return z;
}

std::string bounds_error(const std::string& zip, uint64_t max_total = uint64_t{1} << 32) {
  try {
    check_zip_bounds(zip.data(), zip.size(), max_total);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(CheckpointIntegrity, AZipBombIsRefusedBeforeItIsInflated) {
  const std::string bomb = zip_declaring("archive/data.pkl", 1000, uint64_t{3} << 30);
  EXPECT_NE(bounds_error(bomb).find("zip record archive/data.pkl declares 3221225472 bytes from "
                                    "1000 compressed"),
            std::string::npos)
      << bounds_error(bomb);
  EXPECT_NE(bounds_error(zip_declaring("a", 10, 11, /*method=*/0)).find("is stored but declares"),
            std::string::npos);
  EXPECT_NE(bounds_error(zip_declaring("a", 100, 100, 0), 50).find("more than 50"),
            std::string::npos);
  EXPECT_EQ(bounds_error(zip_declaring("a", 100, 100, 0)), "");
  EXPECT_EQ(bounds_error(zip_declaring("a", 1000, 5000)), "");
  EXPECT_EQ(bounds_error("not a zip at all"), "");

  const fs::path dir = temp_dir("sluice_checkpoint_bomb");
  const std::string path = (dir / "bomb.pt").string();
  std::ofstream(path, std::ios::binary) << bomb;
  try {
    read_checkpoint_info(path);
    FAIL() << "read a zip bomb";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("decompression bomb"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(CheckpointIntegrity, ARealCheckpointPassesTheZipBounds) {
  TrainerConfig config;
  config.model.width_divisor = 16;
  config.device = "cpu";
  const std::string bytes = Trainer(config).checkpoint_bytes(TrainingState{});
  EXPECT_EQ(bounds_error(bytes, bytes.size()), "");
}

// This process's virtual memory size (/proc/self/statm, in pages).
size_t virtual_bytes() {
  std::ifstream in("/proc/self/statm");
  size_t pages = 0;
  in >> pages;
  return pages * static_cast<size_t>(::sysconf(_SC_PAGESIZE));
}

// A save that runs out of memory (an address-space limit in a child process,
// set below what the checkpoint needs) fails with an exception naming the
// checkpoint, which a run reports with exit 1; LibTorch's own pickle_save ended
// the process with SIGABRT there.
TEST(CheckpointIntegrity, RunningOutOfMemoryWhileSavingIsAnErrorNotAnAbort) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "an address-space limit and AddressSanitizer's shadow memory do not mix";
#endif
  const fs::path dir = temp_dir("sluice_checkpoint_oom");
  TrainerConfig config;
  config.model.width_divisor = 4;
  config.device = "cpu";
  Trainer t(config);
  TrainingState state;
  const size_t size = t.checkpoint_bytes(state).size();
  ASSERT_GT(size, size_t{8} << 20);
  const std::string path = (dir / "last.pt").string();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    rlimit limit{};
    limit.rlim_cur = limit.rlim_max = virtual_bytes() + size / 2;
    ::setrlimit(RLIMIT_AS, &limit);
    try {
      t.save_checkpoint(path, state);
      ::_exit(2);  // it fitted after all
    } catch (const std::runtime_error& e) {
      ::_exit(std::string(e.what()).find("cannot save checkpoint " + path) == 0 ? 0 : 3);
    } catch (...) {
      ::_exit(4);
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "the save ended the process with signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_FALSE(fs::exists(path));
  fs::remove_all(dir);
}

TEST(CheckpointIntegrity, ClassNamesFromACheckpointAreEscaped) {
  const LabelSpec binary =
      LabelSpec::from_classes("x", {"no\x1b]0;owned\x07", "yes\n"}, "index", "label");
  const BinaryClassNames names = binary_class_names(binary, "", "");
  EXPECT_EQ(names.negative, "no\\x1b]0;owned\\x07");
  EXPECT_EQ(names.positive, "yes\\n");
  const LabelSpec three = LabelSpec::from_classes("k",
                                                  {"a", "b\r",
                                                   "\x9b"
                                                   "c"},
                                                  "index", "label");
  EXPECT_EQ(output_names(three, 3), (std::vector<std::string>{"a", "b\\r", "\\x9bc"}));
}

}  // namespace
}  // namespace sluice::train
