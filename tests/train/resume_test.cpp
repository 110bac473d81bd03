// Mid-epoch resume (save_every_steps): a run stopped right after a step checkpoint and
// resumed from it ends with parameters bit-identical to an unbroken run's, for every
// index source (celeba.index, csv.index, dir.index, shard.index); the resumed source skips what was
// trained on without emitting (so without decoding) it; a run SIGKILLed mid-epoch and
// resumed from its last step checkpoint ends as the unbroken run; and the mid-epoch
// checkpoints a run cannot continue are refused by validation, at the resume key.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/config.h"
#include "pipeline/registry.h"
#include "pipeline/runner.h"
#include "pipeline/validate.h"
#include "stages/builtin.h"
#include "stages/data/synth_celeba.h"
#include "stages/train/trainer.h"
#include "vision/payloads.h"

namespace fs = std::filesystem;

namespace {

// Passes batches on until `steps` train batches went by, then drops everything that
// follows (batches and markers) and asks the sources to stop: the trainer's last
// save is its step checkpoint, as when a run is killed right after writing it.
class CutAfterSteps : public sluice::Transform {
 public:
  explicit CutAfterSteps(const sluice::Params& p) : steps_(p.get_int("steps")) {}
  void open(sluice::StageContext& ctx) override { ctx_ = &ctx; }
  void process(std::any& in, sluice::Emitter& out) override {
    if (cut_) return;
    sluice::Batch& batch = sluice::payload_as<sluice::Batch>(in);
    const bool train = batch.split == "train";
    out.emit(std::move(batch));
    if (train && ++seen_ == steps_) {
      cut_ = true;
      ctx_->request_stop();
    }
  }
  void on_control(const sluice::Control& c, sluice::Emitter& out) override {
    if (!cut_ || c.kind == sluice::ControlKind::kEndOfStream) out.emit_control(c);
  }

 private:
  int64_t steps_;
  int64_t seen_ = 0;
  bool cut_ = false;
  sluice::StageContext* ctx_ = nullptr;
};

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::map<std::string, torch::Tensor> model_tensors(const fs::path& checkpoint) {
  std::ifstream in(checkpoint, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto dict = torch::pickle_load(bytes).toGenericDict();
  std::map<std::string, torch::Tensor> out;
  for (const auto& item : dict.at("model").toGenericDict()) {
    out[item.key().toStringRef()] = item.value().toTensor();
  }
  return out;
}

// Every tensor of the two checkpoints' models, compared bit for bit.
void expect_same_parameters(const fs::path& a, const fs::path& b) {
  const auto x = model_tensors(a), y = model_tensors(b);
  ASSERT_EQ(x.size(), y.size());
  ASSERT_FALSE(x.empty());
  for (const auto& [name, t] : x) {
    ASSERT_EQ(y.count(name), 1u) << name;
    EXPECT_TRUE(torch::equal(t, y.at(name)))
        << name << " differs: max |a - b| = " << (t - y.at(name)).abs().max().item<double>();
  }
}

// The last metrics row without its timings.
nlohmann::json last_epoch(const fs::path& metrics) {
  std::ifstream in(metrics);
  std::string line, last;
  while (std::getline(in, line)) last = line;
  auto j = nlohmann::json::parse(last);
  j.erase("seconds");
  j.erase("images_per_s");
  return j;
}

uint64_t items_in(const sluice::RunReport& r, const std::string& stage) {
  for (const auto& s : r.stages) {
    if (s.id == stage) return s.items_in;
  }
  return 0;
}

int64_t counter(const sluice::RunReport& r, const std::string& name) {
  const auto it = r.counters.find(name);
  return it == r.counters.end() ? 0 : it->second;
}

class MidEpochResume : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("sluice_resume_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    sluice::data::SynthOptions o;
    o.out = (dir_ / "celeba").string();
    o.count = 200;  // ~162 train, ~20 validation
    o.seed = 11;
    sluice::data::write_synthetic_celeba(o);
    make_class_folders();
    make_shards();
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  // dir.index's layout, ROOT/<split>/<hair colour>/, from hair_colour.csv.
  static void make_class_folders() {
    std::istringstream rows(read_text(dir_ / "celeba" / "hair_colour.csv"));
    std::string line;
    std::getline(rows, line);  // header: path,hair_colour,split
    while (std::getline(rows, line)) {
      const size_t a = line.find(','), b = line.rfind(',');
      if (a == std::string::npos || a == b) continue;
      const std::string path = line.substr(0, a), colour = line.substr(a + 1, b - a - 1);
      const std::string split = line.substr(b + 1);
      if (split == "test") continue;
      const fs::path folder = dir_ / "folders" / split / colour;
      fs::create_directories(folder);
      fs::copy_file(dir_ / "celeba" / path, folder / fs::path(path).filename());
    }
  }

  // shard.index's input: the synthetic files packed as they are into shards of 20
  // samples per split, with their manifest.
  static void make_shards() {
    const auto r =
        run("[pipeline]\nname = \"pack\"\n[stages.index]\nuse = \"celeba.index\"\nroot = \"" +
            (dir_ / "celeba").string() +
            "\"\nsplit = [\"train\", \"validation\"]\n[stages.write]\nuse = "
            "\"shard.write\"\ninput = \"index\"\nprefix = \"" +
            (dir_ / "shards" / "celeba-{split}").string() + "\"\nmax_samples = 20\n");
    ASSERT_EQ(r.status, sluice::RunStatus::kCompleted) << r.error;
  }

  // index (44 train samples: 5 batches of 8 and one of 4 per epoch, then the
  // validation split) -> decode -> 32x32 with flips -> batch of 8.
  static std::string data_stages(const std::string& source, int64_t epochs,
                                 int64_t batch_size = 8) {
    const std::string root = (dir_ / "celeba").string();
    std::string t = "[pipeline]\nname = \"resume\"\nseed = 5\nthreads = 2\n[stages.index]\n";
    if (source == "celeba.index") {
      t += "use = \"celeba.index\"\nroot = \"" + root + "\"\nsplit = [\"train\", \"validation\"]\n";
    } else if (source == "csv.index") {
      t += "use = \"csv.index\"\nfile = \"" + root +
           "/hair_colour.csv\"\nlabel_column = \"hair_colour\"\nsplit_column = \"split\"\n"
           "split = [\"train\", \"validation\"]\n";
    } else if (source == "shard.index") {
      t += "use = \"shard.index\"\nmanifest = \"" + (dir_ / "shards" / "manifest.json").string() +
           "\"\nsplit = [\"train\", \"validation\"]\n";
    } else {
      t += "use = \"dir.index\"\nroot = \"" + (dir_ / "folders").string() +
           "\"\nsplit = [\"train\", \"validation\"]\n";
    }
    t += "epochs = " + std::to_string(epochs) + "\nlimit = 44\n";
    t += "[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n";
    t += "[stages.augment]\nuse = \"image.augment\"\ninput = \"decode\"\nwidth = 32\n"
         "height = 32\nnormalize = \"none\"\nrescale = 0.00392156862745098\nflip = true\n";
    t += "[stages.batch]\nuse = \"image.batch\"\ninput = \"augment\"\nbatch_size = " +
         std::to_string(batch_size) + "\n";
    return t;
  }

  // A VGG11 with channels / 32 and the dropout classifier, from scratch.
  static std::string train_stage(const fs::path& out, const std::string& extra,
                                 const std::string& input = "batch") {
    return "[stages.train]\nuse = \"train.vgg\"\ninput = \"" + input +
           "\"\narch = \"vgg11\"\nwidth_divisor = 32\nhead = \"replace_last\"\nfreeze = "
           "\"none\"\noptimizer = \"adam\"\nlr = 0.001\ndevice = \"cpu\"\nseed = 1\npatience = "
           "0\noutput_dir = \"" +
           out.string() + "\"\n" + extra;
  }

  static std::string cut_stage(int64_t steps) {
    return "[stages.cut]\nuse = \"test.cut\"\ninput = \"batch\"\nsteps = " + std::to_string(steps) +
           "\n";
  }

  static void add_stages(sluice::Registry& r) {
    sluice::register_builtin_stages(r);
    r.add<CutAfterSteps>(
        sluice::StageSpec("test.cut")
            .doc("passes batches on until `steps` train batches, then drops all")
            .transform<sluice::Batch, sluice::Batch>()
            .ordered()
            .param(sluice::ParamSpec::integer("steps", 1, "train batches passed on").min(1)));
  }

  static sluice::RunReport run(const std::string& toml) {
    sluice::Registry r;
    add_stages(r);
    const auto graph = sluice::load_pipeline_string(toml, "resume.toml", {}, r);
    return sluice::run_graph(graph, sluice::RunOptions{});
  }

  // Unbroken two epochs, against two epochs cut after `cut` steps (a step checkpoint
  // every `every`) and resumed from its last.pt: same parameters, same metrics.
  static void expect_resume_equals_unbroken(const std::string& source) {
    const fs::path base = dir_ / source;
    const fs::path whole = base / "whole", part = base / "part";
    const auto unbroken = run(data_stages(source, 2) + train_stage(whole, ""));
    ASSERT_EQ(unbroken.status, sluice::RunStatus::kCompleted) << unbroken.error;

    // 6 steps per epoch: the cut is 2 steps into the second epoch.
    const auto cut = run(data_stages(source, 2) + cut_stage(8) +
                         train_stage(part, "save_every_steps = 4\n", "cut"));
    ASSERT_NE(cut.status, sluice::RunStatus::kFailed) << cut.error;
    const auto stopped = sluice::train::read_checkpoint_info((part / "last.pt").string()).state;
    ASSERT_EQ(stopped.step, 8);
    ASSERT_EQ(stopped.epoch, 1);  // one epoch done, the second under way
    EXPECT_EQ(stopped.progress.batches, 2);
    EXPECT_EQ(stopped.progress.samples, 16);
    EXPECT_EQ(stopped.progress.global_batch, 8);
    EXPECT_EQ(stopped.progress.world_size, 1);

    const auto resumed =
        run(data_stages(source, 2) +
            train_stage(part, "resume = \"" + (part / "last.pt").string() + "\"\n"));
    ASSERT_EQ(resumed.status, sluice::RunStatus::kCompleted) << resumed.error;
    expect_same_parameters(whole / "last.pt", part / "last.pt");
    EXPECT_EQ(last_epoch(whole / "metrics.jsonl"), last_epoch(part / "metrics.jsonl"));
    const auto done = sluice::train::read_checkpoint_info((part / "last.pt").string()).state;
    EXPECT_EQ(done.step, 12);
    EXPECT_EQ(done.epoch, 2);
    EXPECT_FALSE(done.progress.mid_epoch());

    // The resumed source skipped the 16 samples trained on: never emitted, never
    // decoded, so the trainer had no batch to drop.
    const uint64_t per_epoch = items_in(unbroken, "decode") / 2;
    EXPECT_EQ(counter(resumed, "index.resume_skipped"), 16);
    EXPECT_EQ(items_in(resumed, "decode"), per_epoch - 16);
    EXPECT_EQ(counter(resumed, "train.skipped_batches"), 0);
  }

  static fs::path dir_;
};

fs::path MidEpochResume::dir_;

}  // namespace

TEST_F(MidEpochResume, CelebaIndexResumesBitIdentical) {
  expect_resume_equals_unbroken("celeba.index");
}

TEST_F(MidEpochResume, CsvIndexResumesBitIdentical) { expect_resume_equals_unbroken("csv.index"); }

TEST_F(MidEpochResume, DirIndexResumesBitIdentical) { expect_resume_equals_unbroken("dir.index"); }

TEST_F(MidEpochResume, ShardIndexResumesBitIdentical) {
  expect_resume_equals_unbroken("shard.index");
}

// Without save_every_steps the stream cut mid-epoch still ends with last.pt at the
// exact position (finish() records it when every batch so far was whole).
TEST_F(MidEpochResume, AStreamEndingMidEpochSavesItsPosition) {
  const fs::path part = dir_ / "finish" / "part";
  const auto cut =
      run(data_stages("celeba.index", 1) + cut_stage(3) + train_stage(part, "", "cut"));
  ASSERT_NE(cut.status, sluice::RunStatus::kFailed) << cut.error;
  const auto state = sluice::train::read_checkpoint_info((part / "last.pt").string()).state;
  EXPECT_EQ(state.step, 3);
  EXPECT_EQ(state.epoch, 0);
  EXPECT_EQ(state.progress.batches, 3);
  EXPECT_EQ(state.progress.samples, 24);
}

TEST_F(MidEpochResume, CheckRefusesWhatCannotContinue) {
  const fs::path part = dir_ / "check" / "part";
  const auto cut = run(data_stages("celeba.index", 1) + cut_stage(2) +
                       train_stage(part, "save_every_steps = 2\n", "cut"));
  ASSERT_NE(cut.status, sluice::RunStatus::kFailed) << cut.error;
  const std::string checkpoint = (part / "last.pt").string();
  const auto error_of = [](const std::string& toml) -> std::string {
    try {
      sluice::Registry r;
      add_stages(r);
      sluice::load_pipeline_string(toml, "resume.toml", {}, r);
    } catch (const sluice::ConfigError& e) {
      return e.what();
    }
    return "(accepted)";
  };
  const std::string resume = "resume = \"" + checkpoint + "\"\n";

  // Another global batch: the rest of the epoch would be cut into other batches.
  const std::string other_batch =
      error_of(data_stages("celeba.index", 1, 4) + train_stage(part, resume));
  EXPECT_NE(other_batch.find("resume.toml:"), std::string::npos) << other_batch;
  EXPECT_NE(other_batch.find("resume: " + checkpoint +
                             " was written inside epoch 1 (after 2 "
                             "step(s), 16 samples of its 'train' split) with a global batch of 8"),
            std::string::npos)
      << other_batch;
  EXPECT_NE(other_batch.find("image.batch batch_size 4 x WORLD_SIZE 1"), std::string::npos)
      << other_batch;

  // Another train split.
  const std::string other_split = error_of(data_stages("celeba.index", 1) +
                                           train_stage(part, resume + "train_split = \"test\"\n"));
  EXPECT_NE(other_split.find("but train_split is 'test'"), std::string::npos) << other_split;

  // save_every_steps counts steps: not below 0.
  const std::string negative =
      error_of(data_stages("celeba.index", 1) +
               train_stage(dir_ / "check" / "new", "save_every_steps = -1\n"));
  EXPECT_NE(negative.find("resume.toml:"), std::string::npos) << negative;
  EXPECT_NE(negative.find("save_every_steps"), std::string::npos) << negative;

  // The same global batch continues.
  EXPECT_EQ(error_of(data_stages("celeba.index", 1) + train_stage(part, resume)), "(accepted)");
}

// A `sluice run` killed with SIGKILL mid-epoch leaves its last step checkpoint (written
// atomically); a run resumed from it ends with the unbroken run's parameters.
TEST_F(MidEpochResume, SigkilledRunResumesBitIdentical) {
  const fs::path base = dir_ / "sigkill";
  const fs::path whole = base / "whole", part = base / "part";
  fs::create_directories(base);
  const auto unbroken = run(data_stages("celeba.index", 2) + train_stage(whole, ""));
  ASSERT_EQ(unbroken.status, sluice::RunStatus::kCompleted) << unbroken.error;

  const fs::path config = base / "run.toml", resumed_config = base / "resume.toml";
  std::ofstream(config) << data_stages("celeba.index", 2)
                        << train_stage(part, "save_every_steps = 1\n");
  std::ofstream(resumed_config) << data_stages("celeba.index", 2)
                                << train_stage(
                                       part, "resume = \"" + (part / "last.pt").string() + "\"\n");
  const auto start = [](const fs::path& cfg, const fs::path& log) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      FILE* out = std::freopen(log.c_str(), "w", stderr);
      if (out == nullptr || ::dup2(::fileno(stderr), STDOUT_FILENO) < 0) ::_exit(126);
      ::execl(SLUICE_BINARY, SLUICE_BINARY, "run", cfg.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return pid;
  };
  const auto wait_status = [](pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  };

  // Killed as soon as its third step checkpoint is there: mid-way through epoch 1.
  const pid_t pid = start(config, base / "run.log");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  bool killed = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(part / "last.pt")) {
      try {
        if (sluice::train::read_checkpoint_info((part / "last.pt").string()).state.step >= 3) {
          ::kill(pid, SIGKILL);
          killed = true;
          break;
        }
      } catch (const std::exception&) {  // replaced while being read: look again
      }
    }
    if (::waitpid(pid, nullptr, WNOHANG) == pid) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(killed) << read_text(base / "run.log");
  EXPECT_EQ(wait_status(pid), 128 + SIGKILL);
  const auto stopped = sluice::train::read_checkpoint_info((part / "last.pt").string()).state;
  std::cout << "killed after the checkpoint of step " << stopped.step << " (epoch "
            << stopped.epoch + 1 << ", " << stopped.progress.samples << " samples in)\n";
  EXPECT_LT(stopped.step, 12);

  ASSERT_EQ(wait_status(start(resumed_config, base / "resumed.log")), 0)
      << read_text(base / "resumed.log");
  expect_same_parameters(whole / "last.pt", part / "last.pt");
  EXPECT_EQ(last_epoch(whole / "metrics.jsonl"), last_epoch(part / "metrics.jsonl"));
}
