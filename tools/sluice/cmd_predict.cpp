// `sluice predict`: scores image files (or every image under a folder) with a
// trained checkpoint
//   sluice predict --checkpoint runs/celeba-gender/best.pt a.jpg photos/
//     -> IMAGE<TAB>CLASS<TAB>P(CLASS)<TAB>p_POSITIVE=P(label 1)
// (categorical checkpoints: the --topk most probable classes by name, one line each,
// IMAGE<TAB>CLASS<TAB>P(CLASS); multi-label: one line per attribute,
// IMAGE<TAB>ATTRIBUTE or "not ATTRIBUTE"<TAB>P(that)<TAB>p_ATTRIBUTE=P(ATTRIBUTE))
// with the size, pixel scaling and class names the checkpoint records (Male|Female for
// the gender model, Smiling|not Smiling for one trained on "Smiling"), or
// with converted torchvision weights and the ImageNet head
//   sluice predict --weights vgg16-imagenet.pt --arch vgg16 --head imagenet --topk 5 a.jpg
//   (--arch resnet18|resnet34|resnet50 for ResNet weights)
//     -> IMAGE<TAB>CLASS_INDEX<TAB>PROBABILITY (K lines per image, most probable first)
// --format csv or json writes the same columns as CSV rows or a JSON array of
// objects; --header starts text and CSV with the column names. A file that cannot
// be read or scored is named on stderr and the others are still printed; the exit
// status is then 1.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <numeric>

#include <nlohmann/json.hpp>

#include "pipeline/text_escape.h"

#include "stages/train/class_names.h"
#include "stages/train/predict_images.h"
#include "stages/train/train_choices.h"
#include "stages/train/trainer.h"
#include "stages/train/vgg.h"
#include "tools/sluice/cli_common.h"
#include "tools/sluice/command.h"

namespace sluice::cli {
namespace {

constexpr size_t kImagesPerBatch = 16;

// The architectures torchvision weights load into: all but "torchscript".
std::vector<std::string> weights_arch_names() {
  std::vector<std::string> names = train::vgg_arch_names();
  const auto& resnets = train::resnet_arch_names();
  names.insert(names.end(), resnets.begin(), resnets.end());
  return names;
}

// One output column; `labelled` text cells read NAME=VALUE (the positive class's
// probability beside the printed one's); a column not `in_text` is for CSV and JSON
// only (the text line names it in its label instead).
struct Column {
  std::string name;
  bool number = false;
  bool labelled = false;
  bool in_text = true;
};

// Prints rows as tab-separated text, CSV or a JSON array, to stdout.
class RowPrinter {
 public:
  RowPrinter(std::string format, bool header) : format_(std::move(format)), header_(header) {}

  void set_columns(std::vector<Column> columns) {
    if (!columns_.empty()) return;
    columns_ = std::move(columns);
    if (format_ == "json") {
      std::cout << "[";
    } else if (header_) {
      bool first = true;
      for (const Column& c : columns_) {
        if (format_ == "text" && !c.in_text) continue;
        std::cout << (first ? "" : separator()) << cell(c.name);
        first = false;
      }
      std::cout << "\n";
    }
  }

  // `label`: the NAME of labelled text cells, when not the column's name.
  void row(const std::vector<std::string>& values, const std::string& label = "") {
    if (format_ == "json") {
      nlohmann::ordered_json o;
      for (size_t j = 0; j < columns_.size(); ++j) {
        if (columns_[j].number) {
          o[columns_[j].name] = std::stod(values[j]);
        } else {
          o[columns_[j].name] = values[j];
        }
      }
      // A path that is not UTF-8 is written with U+FFFD rather than failing the run.
      std::cout << (rows_ ? ",\n " : "\n ")
                << o.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    } else {
      bool first = true;
      for (size_t j = 0; j < columns_.size(); ++j) {
        const Column& c = columns_[j];
        if (format_ == "text" && !c.in_text) continue;
        std::string v = format_ == "text" ? printable(values[j]) : cell(values[j]);
        if (format_ == "text" && c.labelled) v = (label.empty() ? c.name : label) + "=" + v;
        std::cout << (first ? "" : separator()) << v;
        first = false;
      }
      std::cout << "\n";
    }
    ++rows_;
  }

  void finish() {
    if (format_ == "json") std::cout << (columns_.empty() ? "[" : "") << (rows_ ? "\n]\n" : "]\n");
    std::cout << std::flush;
  }

 private:
  const char* separator() const { return format_ == "csv" ? "," : "\t"; }
  std::string cell(const std::string& s) const {
    if (format_ != "csv" || s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  }

  std::string format_;
  bool header_;
  std::vector<Column> columns_;
  int64_t rows_ = 0;
};

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

struct PredictOptions {
  std::string checkpoint, weights, arch = "vgg16", head = "imagenet", device = "auto";
  std::string positive, negative;  // empty: the checkpoint's label schema names them
  std::string format = "text";
  bool header = false;
  int width_divisor = 1, topk = 5;
  double threshold = 0.5;
  std::vector<std::string> images;
};

// The model and what names its outputs.
struct Predictor {
  std::unique_ptr<train::Trainer> trainer;
  train::InputSpec input;
  train::Preprocess mode = train::Preprocess::kTraining;
  train::BinaryClassNames names;
  LabelSpec label;  // the checkpoint's; unknown for torchvision weights
};

Predictor load_predictor(const PredictOptions& o) {
  Predictor m;
  train::TrainerConfig config;
  config.device = o.device;
  if (!o.checkpoint.empty()) {
    const auto info = train::read_checkpoint_info(o.checkpoint);
    config.model = info.model;
    config.label_kind = info.state.label.kind;
    m.label = info.state.label;
    m.input = info.state.input;
    m.names = train::binary_class_names(info.state.label, o.negative, o.positive);
    if (info.state.label.kind == LabelSpec::Kind::kUnknown &&
        (o.positive.empty() || o.negative.empty())) {
      std::cerr << "sluice predict: " << o.checkpoint
                << " records no label schema; classes are named positive/negative "
                   "(--positive-name, --negative-name name them)\n";
    }
  } else {
    config.model.arch = o.arch;
    config.model.head = train::parse_head(o.head);
    config.model.num_classes = config.model.head == train::Head::kImagenet ? 1000 : 1;
    config.model.width_divisor = o.width_divisor;
    m.mode = train::Preprocess::kImagenet;
  }
  config.model.freeze = train::Freeze::kNone;
  m.trainer = std::make_unique<train::Trainer>(config);
  if (!o.checkpoint.empty()) {
    m.trainer->load_checkpoint(o.checkpoint, /*with_optimizer=*/false);
  } else {
    m.trainer->load_pretrained(o.weights);
  }
  return m;
}

// The rows of one image: p holds its `classes` probabilities.
void print_image(const PredictOptions& o, const Predictor& m, const std::string& image,
                 const float* p, size_t classes, RowPrinter& out) {
  if (classes == 1) {  // binary: the printed class's probability, then P(positive)
    const bool positive = p[0] >= o.threshold;
    out.set_columns(
        {{"image"}, {"class"}, {"probability", true}, {"p_" + m.names.positive, true, true}});
    out.row({image, positive ? m.names.positive : m.names.negative,
             number(positive ? p[0] : 1.0 - p[0]), number(p[0])});
    return;
  }
  const auto class_names = train::output_names(m.label, classes);
  if (m.label.kind == LabelSpec::Kind::kMultiLabel) {
    out.set_columns({{"image"},
                     {"attribute", false, false, false},
                     {"class"},
                     {"probability", true},
                     {"p_attribute", true, true}});
    for (size_t j = 0; j < classes; ++j) {
      const std::string& a = class_names[j];
      const bool on = p[j] >= o.threshold;
      out.row({image, a, on ? a : "not " + a, number(on ? p[j] : 1.0 - p[j]), number(p[j])},
              "p_" + a);
    }
    return;
  }
  out.set_columns({{"image"}, {"class"}, {"probability", true}});
  std::vector<size_t> order(classes);
  std::iota(order.begin(), order.end(), size_t{0});
  const size_t k = std::min<size_t>(static_cast<size_t>(std::max(o.topk, 1)), classes);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [p](size_t a, size_t b) { return p[a] > p[b]; });
  for (size_t j = 0; j < k; ++j) {
    out.row({image, class_names[order[j]], number(p[order[j]])});
  }
}

void report_failure(const train::ImageFailure& f) {
  std::cerr << "sluice predict: " << printable(f.path) << ": " << printable(f.message) << "\n";
}

// Scores `images` in batches, printing each good image and naming each bad one on
// stderr; returns the number of files that failed.
size_t predict_all(const PredictOptions& o, const Predictor& m,
                   const std::vector<std::string>& images, RowPrinter& out) {
  size_t failures = 0;
  for (size_t start = 0; start < images.size(); start += kImagesPerBatch) {
    const std::vector<std::string> chunk(
        images.begin() + static_cast<ptrdiff_t>(start),
        images.begin() + static_cast<ptrdiff_t>(std::min(images.size(), start + kImagesPerBatch)));
    std::vector<train::ImageFailure> failed;
    auto batch = train::load_image_batch(chunk, m.input, m.mode, failed);
    for (const auto& f : failed) report_failure(f);
    failures += failed.size();
    if (batch.size == 0) continue;
    const auto probs = m.trainer->predict(batch);
    const size_t classes = probs.size() / static_cast<size_t>(batch.size);
    for (size_t i = 0; i < static_cast<size_t>(batch.size); ++i) {
      const float* p = probs.data() + i * classes;
      if (!std::all_of(p, p + classes, [](float v) { return std::isfinite(v); })) {
        report_failure({batch.paths[i],
                        "the model's score is not finite (NaN or infinite): its "
                        "weights are not finite or overflow"});
        ++failures;
        continue;
      }
      print_image(o, m, batch.paths[i], p, classes, out);
    }
  }
  return failures;
}

constexpr const char* kExitStatusHelp =
    "IMAGE may be a folder: every image under it (recursively; .jpg .jpeg .png .bmp .ppm\n"
    ".tif .tiff) is scored, in sorted order. A file that cannot be read or scored is\n"
    "named on stderr and skipped; the others are all printed.\n\n"
    "exit status: 0 every image was scored; 1 some file could not be read or scored\n"
    "(or the model could not be loaded); 2 a usage error.\n";

int predict_cmd(const std::vector<std::string>& args) {
  PredictOptions o;
  po::options_description d("options");
  d.add_options()("checkpoint", po::value(&o.checkpoint),
                  "checkpoint written by train.model or train.vgg")(
      "weights", po::value(&o.weights),
      "torchvision weights (tools/export_torchvision_weights.py)")(
      "arch", po::value(&o.arch)->default_value(o.arch),
      "with --weights: vgg11|vgg13|vgg16|vgg19|resnet18|resnet34|resnet50")(
      "head", po::value(&o.head)->default_value(o.head), "with --weights: imagenet")(
      "width-divisor", po::value(&o.width_divisor)->default_value(1), "with --weights")(
      "topk", po::value(&o.topk)->default_value(o.topk),
      "classes per image for a many-class model")(
      "device", po::value(&o.device)->default_value(o.device), "auto, cpu, cuda, cuda:N")(
      "threshold", po::value(&o.threshold)->default_value(o.threshold), "P(positive) for positive")(
      "positive-name", po::value(&o.positive), "name of label 1 (default: the checkpoint's)")(
      "negative-name", po::value(&o.negative), "name of label 0 (default: the checkpoint's)")(
      "format", po::value(&o.format)->default_value(o.format),
      "text (tab-separated), csv, or json (an array of objects)")(
      "header", po::bool_switch(&o.header), "start text and csv output with the column names")(
      "image", po::value(&o.images)->composing(), "image files or folders");
  add_logging_options(d);
  po::positional_options_description pos;
  pos.add("image", -1);
  po::variables_map vm;
  const std::string usage =
      "(--checkpoint FILE | --weights FILE [--arch A] [--head imagenet] [--topk K]) "
      "[--format text|csv|json] [--header] IMAGE|FOLDER...";
  if (auto code = parse_command_line("predict", usage, args, d, pos, vm)) {
    if (*code == kExitOk && vm.count("help")) std::cout << kExitStatusHelp;
    return *code;
  }
  apply_logging_options(vm);
  if (!option_ok("predict", "threshold", builtin_param("eval.classifier", "threshold"),
                 o.threshold) ||
      !option_ok("predict", "width-divisor", builtin_param("train.vgg", "width_divisor"),
                 static_cast<int64_t>(o.width_divisor)) ||
      !option_ok("predict", "topk", ParamSpec::integer("topk", 5, "classes").range(1, 1000),
                 static_cast<int64_t>(o.topk)) ||
      !option_ok("predict", "arch",
                 ParamSpec::string("arch", "vgg16", "").one_of(weights_arch_names()), o.arch) ||
      !option_ok("predict", "head",
                 ParamSpec::string("head", "imagenet", "").one_of(train::head_choices().names()),
                 o.head) ||
      !option_ok("predict", "format",
                 ParamSpec::string("format", "text", "").one_of({"text", "csv", "json"}),
                 o.format) ||
      !device_option_ok("predict", o.device)) {
    return kExitConfigError;
  }
  if (o.checkpoint.empty() == o.weights.empty() || o.images.empty()) {
    std::cerr << "sluice predict: give --checkpoint or --weights (one of them) and images\n"
              << "usage: sluice predict " << usage << "\n";
    return kExitConfigError;
  }
  size_t failures = 0;
  try {
    const Predictor m = load_predictor(o);
    std::vector<train::ImageFailure> missing;
    const auto images = train::expand_image_paths(o.images, missing);
    for (const auto& f : missing) report_failure(f);
    RowPrinter out(o.format, o.header);
    failures = missing.size() + predict_all(o, m, images, out);
    out.finish();
    if (failures > 0) {
      std::cerr << "sluice predict: " << failures << " of " << images.size() + missing.size()
                << " file(s) could not be scored\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "sluice predict: " << train::error_message(e) << "\n";
    return kExitFailure;
  }
  return failures > 0 ? kExitFailure : kExitOk;
}

}  // namespace

SLUICE_COMMAND(predict, "score images with a checkpoint or torchvision weights", predict_cmd);

}  // namespace sluice::cli
