// A categorical label end to end through the `sluice` binary, as a Keras user's
// flow_from_directory with three class folders: train/<class>/ and
// validation/<class>/ (black, blond and gray haired faces of the synthetic
// CelebA, sorted by its hair_colour.csv) run from `sluice check` (which states the
// label: categorical with 3 classes) through `sluice run` and eval.classifier to
// `sluice predict`, which names the classes. An evaluation whose input label is
// not the checkpoint's is refused by `sluice check` at the checkpoint key.
// `sluice report` of a categorical and of a multi-label run, rendered in headless
// Chromium, shows their own evaluation (classes, per-attribute scores and curves).
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "report_dom.h"
#include "run_command.h"

namespace {

namespace fs = std::filesystem;

using cli_test::Result;

Result sluice(const std::string& args) {
  return cli_test::run_command("timeout 300 " + std::string(SLUICE_BINARY) + " " + args);
}

using cli_test::read_text;
using cli_test::value_position;
using report_dom::have_chromium;
using report_dom::table_cells;

const char* const kClasses[] = {"black", "blond", "gray"};

class LabelKindsCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!SLUICE_WITH_TORCH) return;
    dir_ = fs::temp_directory_path() / ("sluice_label_kinds_cli_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const Result r = sluice("synth --out " + celeba() + " --count 240 --seed 3");
    ASSERT_EQ(r.code, 0) << r.out;
    sort_into_folders();
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void SetUp() override {
    if (!SLUICE_WITH_TORCH) GTEST_SKIP() << "needs the training stages (built without LibTorch)";
  }

  // flowers/<split>/<colour>/NNNNNN.jpg for the three colours, from hair_colour.csv.
  static void sort_into_folders() {
    std::ifstream in(fs::path(celeba()) / "hair_colour.csv");
    std::string line;
    std::getline(in, line);  // path,hair_colour,split
    while (std::getline(in, line)) {
      std::istringstream row(line);
      std::string path, colour, split;
      std::getline(row, path, ',');
      std::getline(row, colour, ',');
      std::getline(row, split, ',');
      if (colour == "brown") continue;
      const fs::path to = fs::path(folders()) / split / colour;
      fs::create_directories(to);
      fs::copy_file(fs::path(celeba()) / path, to / fs::path(path).filename());
      if (split == "test") test_images_.push_back((to / fs::path(path).filename()).string());
    }
  }

  static std::string config_text(const std::string& splits, const std::string& tail) {
    return "[pipeline]\nname = \"three-colours\"\nseed = 5\n"
           "\n[stages.index]\nuse = \"dir.index\"\nroot = \"" +
           folders() + "\"\nsplit = " + splits +
           "\nepochs = 1\n"
           "\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n"
           "\n[stages.resize]\nuse = \"image.augment\"\ninput = \"decode\"\nwidth = 32\n"
           "height = 40\nrescale = 0.00392156862745098\n"
           "\n[stages.batch]\nuse = \"image.batch\"\ninput = \"resize\"\nbatch_size = 16\n" +
           tail;
  }

  static std::string train_config() {
    return config_text("[\"train\", \"validation\"]",
                       "\n[stages.train]\nuse = \"train.vgg\"\ninput = \"batch\"\narch = "
                       "\"vgg11\"\nwidth_divisor = 16\nhead = \"gap\"\nfreeze = \"none\"\n"
                       "lr = 0.002\ndevice = \"cpu\"\noutput_dir = \"" +
                           run_dir() + "\"\n");
  }

  static std::string write(const std::string& name, const std::string& text) {
    const fs::path file = dir_ / name;
    std::ofstream(file) << text;
    return file.string();
  }

  static std::string celeba() { return (dir_ / "celeba").string(); }
  static std::string folders() { return (dir_ / "flowers").string(); }
  static std::string run_dir() { return (dir_ / "run").string(); }
  static std::string checkpoint() { return run_dir() + "/best.pt"; }

  static fs::path dir_;
  static std::vector<std::string> test_images_;
};

fs::path LabelKindsCli::dir_;
std::vector<std::string> LabelKindsCli::test_images_;

TEST_F(LabelKindsCli, ThreeClassFoldersFromCheckToPredict) {
  const std::string config = write("train.toml", train_config());
  Result r = sluice("check " + config);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("label: categorical with 3 classes (black, blond, gray)"), std::string::npos)
      << r.out;

  r = sluice("run " + config);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("3 output(s) for a categorical label"), std::string::npos) << r.out;
  ASSERT_TRUE(fs::exists(checkpoint())) << r.out;

  // eval.classifier on the test folders: the categorical table, classes by name.
  ASSERT_FALSE(test_images_.empty());
  const std::string eval =
      write("eval.toml", config_text("[\"test\"]",
                                     "\n[stages.evaluate]\nuse = \"eval.classifier\"\n"
                                     "input = \"batch\"\ndevice = \"cpu\"\ncheckpoint = \"" +
                                         checkpoint() + "\"\n"));
  r = sluice("check " + eval);
  ASSERT_EQ(r.code, 0) << r.out;
  r = sluice("run " + eval);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("top-1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("top-5"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("confusion matrix"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("blond"), std::string::npos) << r.out;

  // sluice predict: per image the three classes, most probable first, by name.
  const size_t images = std::min<size_t>(test_images_.size(), 4);
  std::string args = "predict --device cpu --topk 3 --checkpoint " + checkpoint();
  for (size_t i = 0; i < images; ++i) args += " " + test_images_[i];
  r = sluice(args);
  ASSERT_EQ(r.code, 0) << r.out;
  std::istringstream out(r.out);
  std::map<std::string, int> per_image;
  std::string line;
  while (std::getline(out, line)) {
    std::istringstream fields(line);
    std::string image, name, probability;
    ASSERT_TRUE(std::getline(fields, image, '\t') && std::getline(fields, name, '\t') &&
                std::getline(fields, probability))
        << line;
    EXPECT_TRUE(name == kClasses[0] || name == kClasses[1] || name == kClasses[2]) << line;
    ++per_image[image];
  }
  EXPECT_EQ(per_image.size(), images) << r.out;
  for (const auto& [image, lines] : per_image) EXPECT_EQ(lines, 3) << image;
}

TEST_F(LabelKindsCli, EvaluationOfAnotherLabelIsRefusedAtTheCheckpointKey) {
  if (!fs::exists(checkpoint())) {
    ASSERT_EQ(sluice("run " + write("train.toml", train_config())).code, 0);
  }
  // The same model scored on CelebA's binary Male label.
  const std::string text =
      "[stages.index]\nuse = \"celeba.index\"\nroot = \"" + celeba() +
      "\"\nsplit = [\"test\"]\nepochs = 1\n"
      "\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n"
      "\n[stages.resize]\nuse = \"image.augment\"\ninput = \"decode\"\nwidth = 32\nheight = 40\n"
      "\n[stages.batch]\nuse = \"image.batch\"\ninput = \"resize\"\nbatch_size = 16\n"
      "\n[stages.evaluate]\nuse = \"eval.classifier\"\ninput = \"batch\"\ncheckpoint = \"" +
      checkpoint() + "\"\n";
  const std::string file = write("eval-male.toml", text);
  const Result r = sluice("check " + file);
  EXPECT_EQ(r.code, 2) << r.out;
  const std::string where = value_position(file, text, "checkpoint") + ": error: ";
  EXPECT_NE(r.out.find(where), std::string::npos) << "want " << where << "\n" << r.out;
  EXPECT_NE(r.out.find("was trained on a categorical with 3 classes (black, blond, gray) label "
                       "but its input label is binary \"Male\" (Female/Male)"),
            std::string::npos)
      << r.out;
}

TEST_F(LabelKindsCli, MultiLabelSchemaAndPosWeightAreCheckedBeforeTheRun) {
  auto config = [&](const std::string& label, const std::string& pos_weight) {
    return "[stages.index]\nuse = \"celeba.index\"\nroot = \"" + celeba() +
           "\"\nsplit = [\"train\", \"validation\"]\nlabel = " + label +
           "\n\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n"
           "\n[stages.resize]\nuse = \"image.augment\"\ninput = \"decode\"\nwidth = 32\n"
           "height = 40\n"
           "\n[stages.batch]\nuse = \"image.batch\"\ninput = \"resize\"\nbatch_size = 16\n"
           "\n[stages.train]\nuse = \"train.vgg\"\ninput = \"batch\"\nwidth_divisor = 16\n"
           "head = \"gap\"\nfreeze = \"none\"\noutput_dir = \"" +
           (dir_ / "never").string() + "\"\npos_weight = " + pos_weight + "\n";
  };
  const std::string labels = "[\"Male\", \"Smiling\", \"Eyeglasses\"]";
  Result r = sluice("check " + write("multi.toml", config(labels, "[1.0, 1.0, 3.0]")));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("label: multi-label with 3 attributes (Male, Smiling, Eyeglasses)"),
            std::string::npos)
      << r.out;
  // One weight per sigmoid output: two for three attributes is refused at the key.
  const std::string text = config(labels, "[1.0, 3.0]");
  const std::string file = write("multi-bad.toml", text);
  r = sluice("check " + file);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(value_position(file, text, "pos_weight") + ": error: "), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("pos_weight has 2 value(s) but the input label is multi-label with 3 "
                       "attributes"),
            std::string::npos)
      << r.out;
  // "all" names the 40 attributes.
  r = sluice("check " + write("all.toml", config("\"all\"", "[]")));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("label: multi-label with 40 attributes"), std::string::npos) << r.out;
}

// eval_predictions.csv: its header cells and rows of cells.
struct Csv {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

std::vector<std::string> cells_of(const std::string& line) {
  std::vector<std::string> cells;
  std::istringstream in(line);
  for (std::string cell; std::getline(in, cell, ',');) cells.push_back(cell);
  return cells;
}

Csv read_csv(const fs::path& path) {
  Csv csv;
  std::istringstream in(read_text(path));
  std::string line;
  std::getline(in, line);
  csv.header = cells_of(line);
  while (std::getline(in, line)) {
    if (!line.empty()) csv.rows.push_back(cells_of(line));
  }
  return csv;
}

// The page's visible text has none of these words.
void expect_none_of(const std::string& text, const std::vector<std::string>& words,
                    const std::string& where) {
  for (const auto& w : words) {
    const size_t at = text.find(w);
    EXPECT_EQ(at, std::string::npos)
        << "'" << w << "' in " << where << ": ..."
        << text.substr(at == std::string::npos ? 0 : (at > 200 ? at - 200 : 0), 400);
  }
}

// The page of `run`, rendered; the evaluation box's kind is `kind`.
report_dom::Rendered render_report(const fs::path& run, const fs::path& html,
                                   const std::string& kind) {
  const Result r = sluice("report " + run.string() + " -o " + html.string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("warning"), std::string::npos) << r.out;
  const report_dom::Rendered page = report_dom::render(html);
  report_dom::expect_clean(page);
  EXPECT_NE(page.dom.find("id=\"eval-0\" data-kind=\"" + kind + "\""), std::string::npos);
  expect_none_of(report_dom::visible_text(page.dom), {"undefined", "NaN", "image not readable"},
                 "the page");
  return page;
}

TEST_F(LabelKindsCli, ReportOfACategoricalRunShowsItsClasses) {
  if (!fs::exists(checkpoint())) {
    ASSERT_EQ(sluice("run " + write("train.toml", train_config())).code, 0);
  }
  const std::string report = run_dir() + "/eval.json";
  const std::string eval = write(
      "eval-report.toml", config_text("[\"test\"]",
                                      "\n[stages.evaluate]\nuse = \"eval.classifier\"\n"
                                      "input = \"batch\"\ndevice = \"cpu\"\ncheckpoint = \"" +
                                          checkpoint() + "\"\nreport = \"" + report + "\"\n"));
  Result r = sluice("run " + eval);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(read_text(report));
  ASSERT_EQ(j["kind"], "categorical");
  const std::vector<std::string> names = {kClasses[0], kClasses[1], kClasses[2]};
  ASSERT_EQ(j["confusion"]["classes"].get<std::vector<std::string>>(), names);
  // Each test image's class and class probabilities, by its absolute path.
  const Csv csv = read_csv(run_dir() + "/eval_predictions.csv");
  EXPECT_EQ(csv.header,
            (std::vector<std::string>{"id", "path", "label", "p_black", "p_blond", "p_gray"}));
  ASSERT_EQ(csv.rows.size(), j["count"].get<size_t>());
  size_t wrong = 0;
  for (const auto& row : csv.rows) {
    ASSERT_EQ(row.size(), 6u);
    EXPECT_TRUE(fs::path(row[1]).is_absolute() && fs::exists(row[1])) << row[1];
    std::vector<double> p = {std::stod(row[3]), std::stod(row[4]), std::stod(row[5])};
    wrong += std::max_element(p.begin(), p.end()) - p.begin() != std::stoi(row[2]);
  }

  if (!have_chromium()) GTEST_SKIP() << "chromium is not installed: the page is not rendered";
  const auto page = render_report(run_dir(), dir_ / "categorical.html", "categorical");
  const std::string evaluation = report_dom::section(page.dom, "evaluation");
  // The 3 x 3 confusion matrix of eval.json, rows and columns named by class.
  const auto matrix = table_cells(evaluation, "confusion");
  ASSERT_EQ(matrix.size(), 4u) << evaluation;
  EXPECT_EQ(std::vector<std::string>(matrix[0].begin() + 1, matrix[0].end()), names);
  for (size_t t = 0; t < 3; ++t) {
    std::vector<std::string> want = {names[t]};
    for (const auto& v : j["confusion"]["rows"][t]) want.push_back(std::to_string(v.get<int>()));
    EXPECT_EQ(matrix[t + 1], want);
  }
  // Precision, recall and F1 of each class, as eval.classifier computed them.
  const auto per_class = table_cells(evaluation, "per-class");
  ASSERT_EQ(per_class.size(), 4u);
  for (size_t c = 0; c < 3; ++c) {
    const auto& want = j["classes"][c];
    EXPECT_EQ(per_class[c + 1][0], names[c]);
    EXPECT_EQ(per_class[c + 1][1], std::to_string(want["support"].get<int>()));
    for (size_t k = 0; k < 3; ++k) {
      const char* key[] = {"precision", "recall", "f1"};
      EXPECT_NEAR(std::stod(per_class[c + 1][2 + k]), want[key[k]].get<double>(), 1e-4);
    }
  }
  // Three classes: top-1 only (top-5 is always 1), and no binary words.
  const auto scores = table_cells(evaluation, "scores");
  ASSERT_EQ(scores.size(), 2u);
  EXPECT_EQ(scores[0][2], "top-1 accuracy");
  EXPECT_NEAR(std::stod(scores[1][2]), j["top1"].get<double>(), 1e-4);
  expect_none_of(report_dom::visible_text(evaluation),
                 {"negative", "positive", "threshold", "top-5"}, "the evaluation");
  EXPECT_EQ(report_dom::attribute_count(page.dom, "wrong-0", "data-images"),
            static_cast<int>(std::min<size_t>(wrong, 12)));
}

TEST_F(LabelKindsCli, ReportOfAMultiLabelRunShowsEachAttribute) {
  const std::string run = (dir_ / "multi").string();
  const std::string labels = "[\"Male\", \"Smiling\", \"Eyeglasses\"]";
  auto config = [&](const std::string& splits, const std::string& tail) {
    return "[pipeline]\nseed = 5\n\n[stages.index]\nuse = \"celeba.index\"\nroot = \"" + celeba() +
           "\"\nsplit = " + splits + "\nlabel = " + labels +
           "\nepochs = 1\n"
           "\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n"
           "\n[stages.resize]\nuse = \"image.augment\"\ninput = \"decode\"\nwidth = 32\n"
           "height = 40\nrescale = 0.00392156862745098\n"
           "\n[stages.batch]\nuse = \"image.batch\"\ninput = \"resize\"\nbatch_size = 16\n" +
           tail;
  };
  Result r = sluice(
      "run " + write("multi-train.toml",
                     config("[\"train\", \"validation\"]",
                            "\n[stages.train]\nuse = \"train.vgg\"\ninput = \"batch\"\n"
                            "arch = \"vgg11\"\nwidth_divisor = 16\nhead = \"gap\"\n"
                            "freeze = \"none\"\nlr = 0.002\ndevice = \"cpu\"\noutput_dir = \"" +
                                run + "\"\n")));
  ASSERT_EQ(r.code, 0) << r.out;
  r = sluice("run " + write("multi-eval.toml",
                            config("[\"test\"]",
                                   "\n[stages.evaluate]\nuse = \"eval.classifier\"\n"
                                   "input = \"batch\"\ndevice = \"cpu\"\ncheckpoint = \"" +
                                       run + "/best.pt\"\nreport = \"" + run + "/eval.json\"\n")));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(read_text(run + "/eval.json"));
  ASSERT_EQ(j["kind"], "multi-label");
  ASSERT_EQ(j["attributes"].size(), 3u);
  // Per image, each attribute's truth and probability.
  const Csv csv = read_csv(run + "/eval_predictions.csv");
  EXPECT_EQ(csv.header, (std::vector<std::string>{"id", "path", "Male", "p_Male", "Smiling",
                                                  "p_Smiling", "Eyeglasses", "p_Eyeglasses"}));
  ASSERT_EQ(csv.rows.size(), j["count"].get<size_t>());

  if (!have_chromium()) GTEST_SKIP() << "chromium is not installed: the page is not rendered";
  const auto page = render_report(run, dir_ / "multi.html", "multi-label");
  const std::string evaluation = report_dom::section(page.dom, "evaluation");
  const auto table = table_cells(evaluation, "per-attribute");
  ASSERT_EQ(table.size(), 4u) << evaluation;
  // One ROC curve per attribute with both classes among the test images, a point per
  // distinct score and (0, 0).
  int curves = 0;
  for (size_t a = 0; a < 3; ++a) {
    const auto& want = j["attributes"][a];
    EXPECT_EQ(table[a + 1][0], want["attribute"].get<std::string>());
    EXPECT_EQ(table[a + 1][1], std::to_string(want["positives"].get<int>()));
    EXPECT_NEAR(std::stod(table[a + 1][5]), want["f1"].get<double>(), 1e-4);
    std::set<double> distinct;
    std::set<std::string> truths;
    for (const auto& row : csv.rows) {
      truths.insert(row[2 + 2 * a]);
      distinct.insert(std::stod(row[3 + 2 * a]));
    }
    if (truths.size() < 2) {
      EXPECT_EQ(table[a + 1][6], "n/a");
      continue;
    }
    EXPECT_EQ(report_dom::chart_shape(page.dom, "chart-roc-0-" + std::to_string(curves++)),
              std::make_pair(2, static_cast<int>(distinct.size() + 1)))
        << want["attribute"];
  }
  EXPECT_GE(curves, 1);
  EXPECT_EQ(report_dom::chart_shape(page.dom, "chart-roc-0-" + std::to_string(curves)),
            std::make_pair(-1, -1));
  expect_none_of(report_dom::visible_text(evaluation), {">negative<", ">positive<"},
                 "the evaluation");
}

}  // namespace
