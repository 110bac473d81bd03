// Label kinds end to end on the synthetic CelebA: the head of train.vgg sizes
// itself from the label schema on its input edge, and eval.classifier scores the
// test split with the metrics of the kind. A narrow VGG on small images, trained
// on the CPU for a few epochs, must reach
//   categorical (hair_colour.csv, 4 colours, csv.index): >= 90% test top-1;
//   multi-label (celeba.index label = Male, Black_Hair, Blond_Hair, Wearing_Hat):
//   >= 90% mean per-attribute test accuracy (always answering the majority
//   scores about 76%).
// (The binary >= 95% test is synthetic_celeba_test.cpp.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "pipeline/registry.h"
#include "pipeline/runner.h"
#include "pipeline/validate.h"
#include "stages/builtin.h"
#include "stages/data/synth_celeba.h"

namespace fs = std::filesystem;

namespace {

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoll(v) : fallback;
}

class LabelKinds : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("sluice_label_kinds_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    sluice::data::SynthOptions o;
    o.out = (dir_ / "celeba").string();
    o.count = env_int("SLUICE_TEST_LABEL_KINDS_COUNT", 2000);
    o.seed = 3;
    sluice::data::write_synthetic_celeba(o);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::string root() { return (dir_ / "celeba").string(); }

  // decode -> augment (width x height) -> batch, after an index stage.
  static std::string image_stages(int width, int height, bool augment) {
    std::string toml = "[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n";
    toml += "[stages.augment]\nuse = \"image.augment\"\ninput = \"decode\"\n";
    toml += "width = " + std::to_string(width) + "\nheight = " + std::to_string(height) +
            "\nrescale = 0.00392156862745098\n";
    if (augment) toml += "zoom = [0.9, 1.1]\nflip = true\n";
    toml += "[stages.batch]\nuse = \"image.batch\"\ninput = \"augment\"\nbatch_size = 32\n";
    return toml;
  }

  static std::string header() {
    return "[pipeline]\nname = \"label-kinds\"\nseed = 5\nthreads = 2\n";
  }

  static std::string hair_index(const std::string& splits, int64_t epochs) {
    return "[stages.index]\nuse = \"csv.index\"\nfile = \"" + root() + "/" +
           sluice::data::kHairColourFile +
           "\"\nlabel_column = \"hair_colour\"\nsplit_column = \"split\"\nsplit = " + splits +
           "\nepochs = " + std::to_string(epochs) + "\n";
  }

  static std::string attribute_index(const std::string& splits, int64_t epochs) {
    return "[stages.index]\nuse = \"celeba.index\"\nroot = \"" + root() +
           "\"\nlabel = [\"Male\", \"Black_Hair\", \"Blond_Hair\", \"Wearing_Hat\"]\nsplit = " +
           splits + "\nepochs = " + std::to_string(epochs) + "\n";
  }

  static std::string train_stage(const std::string& out, const std::string& extra) {
    return "[stages.train]\nuse = \"train.vgg\"\ninput = \"batch\"\narch = \"vgg11\"\n"
           "width_divisor = 16\nhead = \"gap\"\nfreeze = \"none\"\nlr = 0.002\n"
           "device = \"cpu\"\nseed = 1\npatience = 0\noutput_dir = \"" +
           out + "\"\n" + extra;
  }

  static std::string eval_stage(const std::string& checkpoint, const std::string& report) {
    return "[stages.evaluate]\nuse = \"eval.classifier\"\ninput = \"batch\"\ncheckpoint = \"" +
           checkpoint + "\"\ndevice = \"cpu\"\nreport = \"" + report + "\"\n";
  }

  static sluice::RunReport run(const std::string& toml) {
    sluice::Registry registry;
    sluice::register_builtin_stages(registry);
    const auto graph = sluice::load_pipeline_string(toml, "label-kinds.toml", {}, registry);
    return sluice::run_graph(graph);
  }

  static nlohmann::json read_json(const std::string& path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in);
  }

  static fs::path dir_;
};

fs::path LabelKinds::dir_;

TEST_F(LabelKinds, FourHairColoursReach90PercentTop1) {
  const auto out = (dir_ / "hair").string();
  const auto epochs = env_int("SLUICE_TEST_EPOCHS_HAIR", 8);
  const auto trained = run(header() + hair_index("[\"train\", \"validation\"]", epochs) +
                           image_stages(40, 48, true) + train_stage(out, ""));
  ASSERT_EQ(trained.status, sluice::RunStatus::kCompleted) << trained.error;
  const auto report = (dir_ / "hair-eval.json").string();
  const auto evaluated = run(header() + hair_index("[\"test\"]", 1) + image_stages(40, 48, false) +
                             eval_stage(out + "/last.pt", report));
  ASSERT_EQ(evaluated.status, sluice::RunStatus::kCompleted) << evaluated.error;
  const auto j = read_json(report);
  std::cout << "hair colour: test top-1 " << j["top1"] << ", top-5 " << j["top5"] << " over "
            << j["count"] << " images\n";
  EXPECT_EQ(j["kind"], "categorical");
  ASSERT_EQ(j["classes"].size(), 4u) << j.dump(2);
  // The classes as the schema named them: csv.index sorts names.
  EXPECT_EQ(j["classes"][0]["class"], "black");
  EXPECT_EQ(j["classes"][1]["class"], "blond");
  EXPECT_EQ(j["classes"][3]["class"], "gray");
  EXPECT_EQ(j["confusion"]["rows"].size(), 4u);
  EXPECT_GT(j["count"].get<int64_t>(), 150);
  EXPECT_GE(j["top1"].get<double>(), 0.90) << j.dump(2);
  EXPECT_DOUBLE_EQ(j["top5"].get<double>(), 1.0);  // 4 classes: always among the top 5
}

TEST_F(LabelKinds, FourAttributesReach90PercentMeanAccuracy) {
  const auto out = (dir_ / "attributes").string();
  const auto epochs = env_int("SLUICE_TEST_EPOCHS_ATTRIBUTES", 8);
  const auto trained =
      run(header() + attribute_index("[\"train\", \"validation\"]", epochs) +
          image_stages(40, 48, true) + train_stage(out, "pos_weight = [1.0, 1.0, 1.0, 4.0]\n"));
  ASSERT_EQ(trained.status, sluice::RunStatus::kCompleted) << trained.error;
  const auto report = (dir_ / "attributes-eval.json").string();
  const auto evaluated = run(header() + attribute_index("[\"test\"]", 1) +
                             image_stages(40, 48, false) + eval_stage(out + "/last.pt", report));
  ASSERT_EQ(evaluated.status, sluice::RunStatus::kCompleted) << evaluated.error;
  const auto j = read_json(report);
  std::cout << "four attributes: test mean accuracy " << j["accuracy"] << ", mean AUC "
            << j["roc_auc"] << " over " << j["count"] << " images\n";
  for (const auto& a : j["attributes"]) {
    std::cout << "  " << a["attribute"].get<std::string>() << ": accuracy " << a["accuracy"]
              << ", f1 " << a["f1"] << ", auc " << a["roc_auc"] << "\n";
  }
  EXPECT_EQ(j["kind"], "multi-label");
  ASSERT_EQ(j["attributes"].size(), 4u) << j.dump(2);
  EXPECT_EQ(j["attributes"][0]["attribute"], "Male");
  EXPECT_EQ(j["attributes"][3]["attribute"], "Wearing_Hat");
  EXPECT_GT(j["count"].get<int64_t>(), 150);
  EXPECT_GE(j["accuracy"].get<double>(), 0.90) << j.dump(2);
}

}  // namespace
