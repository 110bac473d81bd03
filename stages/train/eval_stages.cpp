// eval.classifier: scores a trained checkpoint on one split, as a table (printed) and
// as JSON, with the metrics of its label kind (label_metrics.h): binary: accuracy,
// precision, recall, F1, ROC AUC, the confusion matrix and accuracy broken down by
// other attributes (where the model fails); categorical: top-1, top-5, per-class
// precision/recall/F1 and the N x N confusion matrix; multi-label: accuracy, F1 and
// AUC per attribute and their means. Class and attribute names come from the
// checkpoint; a checkpoint trained on another label is refused by `sluice check`.
// Beside the JSON report (eval.json) it writes each image's scores, with the image's
// absolute path (eval_predictions.csv): binary: id, path, label, score = P(label 1);
// categorical: id, path, label (class id), p_CLASS per class; multi-label: id, path,
// then ATTRIBUTE (0/1) and p_ATTRIBUTE per attribute. From them `sluice report`
// draws the ROC curves and the most confidently wrong images.
// Batches of other splits are skipped and counted (printed, and in the report as
// skipped_by_split); `sluice check` refuses a split no source upstream emits, and
// a run in which no image of the split arrived fails rather than report zeros. A
// NaN or infinite score fails the run, naming the batch and the image.
//
//   [stages.evaluate]
//   use = "eval.classifier"
//   input = "batch"
//   checkpoint = "runs/celeba-gender/best.pt"
//   split = "test"
//   attributes = ["Eyeglasses", "Young", "Pale_Skin"]
//   report = "runs/celeba-gender/eval.json"
//
// predict.csv: writes one CSV row per image (id, path, P(label 1), predicted class,
// true label) from a checkpoint, for a folder or index of images; categorical and
// multi-label checkpoints write one probability column per class or attribute
// (p_NAME), then the predicted class (the attributes at or above threshold, joined by
// '|') and the true one(s). Images without a label (dir.index labels = false) get
// no label column.
//
// Both take size, pixel scaling and class names from the checkpoint (the names of
// its label schema: Smiling / not Smiling for a model trained on "Smiling");
// positive_name / negative_name override the names.
//
//   [stages.predict]
//   use = "predict.csv"
//   input = "batch"
//   checkpoint = "runs/celeba-gender/best.pt"
//   output = "predictions.csv"
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include <spdlog/spdlog.h>

#include "pipeline/atomic_file.h"
#include "pipeline/registry.h"
#include "stages/train/class_names.h"
#include "stages/train/label_metrics.h"
#include "stages/train/metrics.h"
#include "stages/train/stage_params.h"
#include "stages/train/train_specs.h"
#include "stages/train/train_stages.h"
#include "stages/train/trainer.h"

namespace sluice::train {
namespace {

// A trainer rebuilt from a checkpoint's model description, weights loaded.
struct LoadedModel {
  std::unique_ptr<Trainer> trainer;
  CheckpointInfo info;
};

LoadedModel load_model(const Params& p, StageContext& ctx) {
  LoadedModel m;
  const std::string& path = p.get_string("checkpoint");
  require_file("checkpoint", path);
  m.info = read_checkpoint_info(path);
  TrainerConfig config;
  config.model = m.info.model;
  config.model.freeze = Freeze::kNone;  // nothing is trained here
  config.label_kind = m.info.state.label.kind;
  config.device = p.get_string("device");
  m.trainer = std::make_unique<Trainer>(config);
  m.trainer->load_checkpoint(path, /*with_optimizer=*/false);
  ctx.log().info("{}: {} trained {} epoch(s) on {}x{} images; running on {}", path,
                 m.info.model.arch, m.info.state.epoch, m.info.state.input.width,
                 m.info.state.input.height, m.trainer->device_name());
  return m;
}

bool one_output(const CheckpointInfo& info) { return info.model.num_classes == 1; }

// Output names: the parameters when given, else the checkpoint's label schema.
BinaryClassNames class_names(const Params& p, const CheckpointInfo& info, StageContext& ctx) {
  BinaryClassNames names = binary_class_names(info.state.label, p.get_string("negative_name"),
                                              p.get_string("positive_name"));
  if (one_output(info)) {
    ctx.log().info("classes: 0 = {}, 1 = {} ({})", names.negative, names.positive, names.origin);
  } else {
    ctx.log().info("{} label: {}", label_kind_name(info.state.label.kind),
                   info.state.label.to_string());
  }
  return names;
}

// The kind the checkpoint's outputs are scored as: one output is binary.
LabelSpec::Kind scored_kind(const CheckpointInfo& info) {
  if (info.state.label.kind == LabelSpec::Kind::kMultiLabel) return LabelSpec::Kind::kMultiLabel;
  return one_output(info) ? LabelSpec::Kind::kBinary : LabelSpec::Kind::kCategorical;
}

void warn_on_size_change(const InputSpec& trained, const Batch& b, StageContext& ctx,
                         bool& warned) {
  if (warned || trained.height == 0) return;
  if (b.height != trained.height || b.width != trained.width) {
    ctx.log().warn("images are {}x{} but the model was trained on {}x{}", b.width, b.height,
                   trained.width, trained.height);
    warned = true;
  }
}

// NaN or infinite scores (a model whose weights are or become non-finite) have no
// metrics and no prediction: the batch and its first such image are named.
void require_finite_scores(const std::vector<float>& probs, const Batch& b,
                           const std::string& checkpoint) {
  const size_t per_image = b.size > 0 ? probs.size() / static_cast<size_t>(b.size) : 1;
  for (size_t k = 0; k < probs.size(); ++k) {
    if (std::isfinite(probs[k])) continue;
    const size_t i = k / std::max<size_t>(per_image, 1);
    const std::string image = i < b.paths.size() ? b.paths[i]
                              : i < b.ids.size() ? b.ids[i]
                                                 : "#" + std::to_string(i);
    std::ostringstream msg;
    msg << payload_text(b) << ": the model scored " << probs[k] << " for " << image << " ("
        << checkpoint << "): its weights are not finite or overflow; no result can be computed";
    throw std::runtime_error(msg.str());
  }
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

class EvalClassifier : public Sink {
 public:
  explicit EvalClassifier(const Params& p)
      : params_(p),
        split_(p.get_string("split")),
        report_path_(p.get_string("report")),
        attributes_(p.get_strings("attributes")) {}

  void open(StageContext& ctx) override {
    ctx_ = &ctx;
    model_ = load_model(params_, ctx);
    names_ = class_names(params_, model_.info, ctx);
    const auto outputs = static_cast<size_t>(model_.info.model.num_classes);
    kind_ = scored_kind(model_.info);
    binary_ = kind_ == LabelSpec::Kind::kBinary;
    metrics_ = std::make_unique<LabelMetrics>(scored_kind(model_.info),
                                              output_names(model_.info.state.label, outputs),
                                              params_.get_float("threshold"));
  }

  void consume(std::any& in) override {
    Batch batch = payload_as<Batch>(in);
    if (!split_.empty() && batch.split != split_) {
      skipped_[batch.split] += batch.size;
      return;
    }
    warn_on_size_change(model_.info.state.input, batch, *ctx_, warned_);
    apply_training_input(model_.info.state.input, batch);
    double loss_sum = 0.0;
    const auto probs = model_.trainer->predict(batch, &loss_sum);
    require_finite_scores(probs, batch, params_.get_string("checkpoint"));
    scored_ += batch.size;
    auto [names, attrs] = select_attributes(batch);
    metrics_->add_batch(probs, batch.labels, names, attrs);
    metrics_->add_loss(loss_sum, batch.size);
    if (!report_path_.empty()) keep_scores(batch, probs);
  }

  void finish(Emitter&) override {
    require_scored();
    std::ostringstream title;
    title << "evaluation of " << params_.get_string("checkpoint") << " on "
          << (split_.empty() ? "all splits" : "split '" + split_ + "'") << "\n";
    std::cout << title.str() << metrics_->to_table(names_.positive, names_.negative);
    if (!skipped_.empty())
      std::cout << "skipped (not split '" << split_ << "'): " << skipped_text() << "\n";
    std::cout << std::flush;
    if (!report_path_.empty()) {
      auto j = metrics_->to_json();
      j["checkpoint"] = params_.get_string("checkpoint");
      j["split"] = split_;
      j["skipped_by_split"] = skipped_;
      j["threshold"] = params_.get_float("threshold");
      j["positive_name"] = names_.positive;
      j["negative_name"] = names_.negative;
      const auto parent = std::filesystem::path(report_path_).parent_path();
      if (!parent.empty()) std::filesystem::create_directories(parent);
      write_file_atomically(report_path_, j.dump(2) + "\n");
      ctx_->log().info("wrote {}", report_path_);
      write_scores();
    }
  }

 private:
  // "train: 96 images, test: 32 images".
  std::string skipped_text() const {
    std::string out;
    for (const auto& [split, n] : skipped_) {
      out += (out.empty() ? "" : ", ") + split + ": " + std::to_string(n) + " images";
    }
    return out;
  }

  // Metrics over no image are not a result: name what did arrive instead.
  void require_scored() const {
    if (scored_ > 0) return;
    std::string msg =
        (split_.empty() ? std::string("no image") : "no image of split '" + split_ + "'") +
        " reached it; ";
    msg += skipped_.empty() ? "its input was empty"
                            : "it received " + skipped_text() +
                                  " (set split to one of these, or \"\" to score every batch)";
    throw std::runtime_error(msg);
  }

  // One CSV row per image: id, absolute path (the report may be written from another
  // folder), then the label(s) and score(s) of the label kind (see the header).
  void keep_scores(const Batch& b, const std::vector<float>& probs) {
    const auto field = [](const std::vector<std::string>& v, size_t i) {
      return i < v.size() ? v[i] : std::string();
    };
    const size_t outputs = static_cast<size_t>(model_.info.model.num_classes);
    const bool multi = kind_ == LabelSpec::Kind::kMultiLabel;
    for (size_t i = 0; i < static_cast<size_t>(b.size); ++i) {
      std::ostringstream row;
      row << csv_field(field(b.ids, i)) << ',' << csv_field(absolute_path(field(b.paths, i)))
          << std::setprecision(6);
      if (!multi) row << ',' << (i < b.labels.size() ? b.labels[i] : -1);
      for (size_t k = 0; k < outputs; ++k) {
        const size_t at = i * outputs + k;
        if (multi) row << ',' << (at < b.labels.size() ? b.labels[at] : -1);
        row << ',' << (at < probs.size() ? probs[at] : 0.0f);
      }
      scores_.push_back(row.str());
    }
  }

  static std::string absolute_path(const std::string& path) {
    if (path.empty()) return path;
    std::error_code ec;
    const auto abs = std::filesystem::absolute(path, ec);
    return ec ? path : abs.lexically_normal().string();
  }

  std::string scores_header() const {
    if (binary_) return "id,path,label,score";
    const auto names =
        output_names(model_.info.state.label, static_cast<size_t>(model_.info.model.num_classes));
    std::string header = kind_ == LabelSpec::Kind::kMultiLabel ? "id,path" : "id,path,label";
    for (const auto& name : names) {
      if (kind_ == LabelSpec::Kind::kMultiLabel) header += "," + csv_field(name);
      header += "," + csv_field("p_" + name);
    }
    return header;
  }

  // eval.json -> eval_predictions.csv, beside it.
  void write_scores() {
    std::filesystem::path path(report_path_);
    path.replace_filename(path.stem().string() + "_predictions.csv");
    std::string text = scores_header() + '\n';
    for (const auto& row : scores_) text += row + '\n';
    write_file_atomically(path.string(), text);
    ctx_->log().info("wrote {} per-image scores to {}", scores_.size(), path.string());
  }

  // The requested attribute columns of a batch (all when none were requested).
  std::pair<AttributeNames, std::vector<int8_t>> select_attributes(const Batch& b) {
    if (!b.attr_names || b.attr_names->empty()) return {nullptr, {}};
    if (attributes_.empty()) return {b.attr_names, b.attrs};
    if (!selected_names_) {
      std::vector<std::string> names;
      for (const auto& want : attributes_) {
        bool found = false;
        for (size_t j = 0; j < b.attr_names->size(); ++j) {
          if ((*b.attr_names)[j] == want) {
            columns_.push_back(j);
            names.push_back(want);
            found = true;
          }
        }
        if (!found) ctx_->log().warn("attribute '{}' is not in the dataset", want);
      }
      selected_names_ = std::make_shared<const std::vector<std::string>>(std::move(names));
    }
    const size_t k = b.attr_names->size();
    std::vector<int8_t> out;
    out.reserve(columns_.size() * b.size);
    for (int i = 0; i < b.size; ++i) {
      for (size_t j : columns_) out.push_back(b.attrs[i * k + j]);
    }
    return {selected_names_, out};
  }

  Params params_;
  std::string split_, report_path_;
  std::vector<std::string> attributes_;
  BinaryClassNames names_;
  std::unique_ptr<LabelMetrics> metrics_;
  StageContext* ctx_ = nullptr;
  LoadedModel model_;
  bool warned_ = false;
  AttributeNames selected_names_;
  std::vector<size_t> columns_;
  std::vector<std::string> scores_;  // CSV rows of eval_predictions.csv
  LabelSpec::Kind kind_ = LabelSpec::Kind::kBinary;
  bool binary_ = true;
  int64_t scored_ = 0;                      // images scored
  std::map<std::string, int64_t> skipped_;  // images of other splits, by split
};

class PredictCsv : public Sink {
 public:
  explicit PredictCsv(const Params& p)
      : params_(p), output_(p.get_string("output")), threshold_(p.get_float("threshold")) {}

  void open(StageContext& ctx) override {
    ctx_ = &ctx;
    model_ = load_model(params_, ctx);
    names_ = class_names(params_, model_.info, ctx);
    kind_ = scored_kind(model_.info);
    // The true labels are named by the checkpoint's classes only when they are the
    // classes it was trained on (a folder of images to label has its own).
    for (const ElementSpec& in : ctx.input_specs()) {
      const LabelSpec& trained = model_.info.state.label;
      labels_named_ =
          in.label && in.label->kind == trained.kind && in.label->names == trained.names;
    }
    outputs_ =
        output_names(model_.info.state.label, static_cast<size_t>(model_.info.model.num_classes));
    const auto parent = std::filesystem::path(output_).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    file_ = std::make_unique<AtomicFile>(output_);  // appears, whole, when the run ends
  }

  void consume(std::any& in) override {
    Batch batch = payload_as<Batch>(in);
    if (!header_written_) write_header(has_labels(batch));
    warn_on_size_change(model_.info.state.input, batch, *ctx_, warned_);
    apply_training_input(model_.info.state.input, batch);
    const auto probs = model_.trainer->predict(batch);
    require_finite_scores(probs, batch, params_.get_string("checkpoint"));
    for (int i = 0; i < batch.size; ++i) {
      const auto id = i < static_cast<int>(batch.ids.size()) ? batch.ids[i] : std::string();
      const auto path = i < static_cast<int>(batch.paths.size()) ? batch.paths[i] : std::string();
      out_ << csv_field(id) << "," << csv_field(path) << ",";
      if (kind_ == LabelSpec::Kind::kBinary) {
        out_ << probs[i] << ","
             << csv_field(probs[i] >= threshold_ ? names_.positive : names_.negative);
        if (labeled_) {
          out_ << "," << (i < static_cast<int>(batch.labels.size()) ? batch.labels[i] : -1);
        }
        out_ << "\n";
      } else {
        write_row(probs.data() + static_cast<size_t>(i) * outputs_.size(), batch, i);
      }
    }
    rows_ += batch.size;
    flush_rows();
  }

  void finish(Emitter&) override {
    if (!header_written_) write_header(true);
    flush_rows();
    file_->commit();
    ctx_->log().info("wrote {} predictions to {}", rows_, output_);
  }

 private:
  // Images without a label (dir.index labels = false) carry label -1: their rows
  // get no label column rather than a made-up one.
  static bool has_labels(const Batch& b) {
    return b.labels.empty() ||
           std::any_of(b.labels.begin(), b.labels.end(), [](int64_t l) { return l >= 0; });
  }

  void write_header(bool labeled) {
    labeled_ = labeled;
    header_written_ = true;
    out_ << "id,path,";
    if (kind_ == LabelSpec::Kind::kBinary) {
      out_ << csv_field("p_" + names_.positive);
    } else {
      for (size_t j = 0; j < outputs_.size(); ++j)
        out_ << (j ? "," : "") << csv_field("p_" + outputs_[j]);
    }
    out_ << ",prediction" << (labeled_ ? ",label" : "") << "\n" << std::setprecision(6);
  }

  void flush_rows() {
    file_->write(out_.str());
    out_.str("");
  }

  // Categorical: the probability of each class, the most probable class and the
  // true class (by name when the input's classes are the checkpoint's, else its
  // id); multi-label: the probability of each attribute, then the attributes at or
  // above the threshold and the true ones, joined by '|'.
  void write_row(const float* p, const Batch& b, int i) {
    const size_t n = outputs_.size();
    for (size_t j = 0; j < n; ++j) out_ << (j ? "," : "") << p[j];
    out_ << ",";
    const auto label_at = [&](size_t k) { return k < b.labels.size() ? b.labels[k] : int64_t{-1}; };
    if (kind_ == LabelSpec::Kind::kCategorical) {
      const size_t best = static_cast<size_t>(std::max_element(p, p + n) - p);
      const int64_t truth = label_at(static_cast<size_t>(i));
      out_ << csv_field(outputs_[best]);
      if (labeled_ && labels_named_ && truth >= 0 && static_cast<size_t>(truth) < n) {
        out_ << "," << csv_field(outputs_[static_cast<size_t>(truth)]);
      } else if (labeled_) {
        out_ << "," << truth;
      }
      out_ << "\n";
      return;
    }
    std::string predicted, actual;
    for (size_t j = 0; j < n; ++j) {
      if (p[j] >= threshold_) predicted += (predicted.empty() ? "" : "|") + outputs_[j];
      if (labels_named_ && b.label_width == static_cast<int>(n) &&
          label_at(static_cast<size_t>(i) * n + j) > 0) {
        actual += (actual.empty() ? "" : "|") + outputs_[j];
      }
    }
    out_ << csv_field(predicted);
    if (labeled_) out_ << "," << csv_field(actual);
    out_ << "\n";
  }

  static std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  }

  Params params_;
  std::string output_;
  BinaryClassNames names_;
  LabelSpec::Kind kind_ = LabelSpec::Kind::kBinary;
  std::vector<std::string> outputs_;  // class or attribute names (categorical, multi-label)
  bool labels_named_ = false;         // the input's label is the checkpoint's
  double threshold_;
  StageContext* ctx_ = nullptr;
  LoadedModel model_;
  std::unique_ptr<AtomicFile> file_;
  std::ostringstream out_;  // rows not yet written to file_
  int64_t rows_ = 0;
  bool warned_ = false;
  bool header_written_ = false;
  bool labeled_ = true;  // the rows have a label column
};

void add_checkpoint_params(StageSpec& spec) {
  spec.param(ParamSpec::required(
                 "checkpoint", ParamType::kString,
                 "checkpoint written by train.model or train.vgg (best.pt or last.pt)"))
      .param(ParamSpec::string("device", "auto", "auto, cpu, cuda or cuda:N"))
      .param(ParamSpec::number("threshold", 0.5,
                               "P(positive) at or above which the "
                               "prediction is positive")
                 .range(0, 1))
      .param(ParamSpec::string("positive_name", "",
                               "name of label 1 (empty: the checkpoint's label schema names it)"))
      .param(ParamSpec::string("negative_name", "",
                               "name of label 0 (empty: the checkpoint's label schema names it)"));
  check_file_param(spec, "checkpoint");
}

}  // namespace

void register_eval_stages(Registry& registry) {
  StageSpec eval("eval.classifier");
  eval.doc(
          "Scores a checkpoint: accuracy, precision, recall, F1, ROC AUC, confusion matrix, "
          "accuracy by attribute.",
          "Prints a table at the end of the run and writes it as JSON to `report`.")
      .sink<Batch>()
      .accepts(eval_classifier_accepts);
  add_checkpoint_params(eval);
  eval.param(ParamSpec::string("split", "test", "split to score (empty: every batch)"))
      .param(ParamSpec::strings("attributes", {},
                                "attributes for the accuracy breakdown (empty: all the "
                                "dataset has)"))
      .param(ParamSpec::string("report", "",
                               "JSON file for the metrics (empty: none); the per-image scores "
                               "go beside it (eval.json -> eval_predictions.csv)"));
  registry.add<EvalClassifier>(std::move(eval));

  StageSpec predict("predict.csv");
  predict
      .doc(
          "Writes a CSV of predictions (id, path, probability, class, label) from a "
          "checkpoint.")
      .sink<Batch>()
      .accepts(predict_csv_accepts);
  add_checkpoint_params(predict);
  predict.param(ParamSpec::string("output", "predictions.csv", "CSV file to write"));
  registry.add<PredictCsv>(std::move(predict));
}

}  // namespace sluice::train
