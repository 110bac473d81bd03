#include "stages/train/train_specs.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "pipeline/label_limits.h"
#include "stages/data/launch_env.h"
#include "stages/train/callback_params.h"
#include "stages/train/metrics.h"
#include "stages/train/resume_position.h"
#include "stages/train/trainer.h"

namespace sluice::train {
namespace {

std::string quoted_list(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    out += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + ("'" + names[i] + "'");
  }
  return out;
}

std::string label_origin(const LabelSpec& label) {
  if (label.from_stage.empty()) return {};
  return " (set by stage '" + label.from_stage + "'" +
         (label.from_param.empty() ? "" : ", parameter '" + label.from_param + "'") + ")";
}

// A head sizes itself from the label: a categorical one needs two classes or more
// (two make a binary label), a multi-label one at least one attribute.
void require_trainable_label(const ElementSpec& input, SpecContext& ctx) {
  if (!input.label) return;
  const LabelSpec& label = *input.label;
  if (label.kind == LabelSpec::Kind::kCategorical && label.names.size() < 2) {
    ctx.error("", "input label is " + label.to_string() +
                      ": a classifier needs at least two "
                      "classes" +
                      label_origin(label));
  }
  if (label.kind == LabelSpec::Kind::kMultiLabel && label.names.empty()) {
    ctx.error("", "input label is multi-label without attributes" + label_origin(label));
  }
  const std::string too_many = too_many_classes(label.names.size());
  if (label.kind == LabelSpec::Kind::kCategorical && !too_many.empty()) {
    ctx.error("", "input label " + too_many + label_origin(label));
  }
}

// pos_weight: one value per output of a binary or multi-label head.
void require_pos_weight(const Params& p, const ElementSpec& input, SpecContext& ctx) {
  const auto weights = p.get_floats("pos_weight");
  if (weights.empty() || !input.label || input.label->kind == LabelSpec::Kind::kUnknown) return;
  const LabelSpec& label = *input.label;
  if (label.kind == LabelSpec::Kind::kCategorical) {
    ctx.error("pos_weight",
              "pos_weight weighs the positive class of a sigmoid output; the input "
              "label is " +
                  label.to_string() + label_origin(label));
    return;
  }
  const size_t outputs = label.kind == LabelSpec::Kind::kMultiLabel ? label.names.size() : 1;
  if (weights.size() != outputs) {
    ctx.error("pos_weight", "pos_weight has " + std::to_string(weights.size()) +
                                " value(s) but the input label is " + label.to_string() +
                                label_origin(label) + ": give " + std::to_string(outputs) +
                                ", one per output, in that order");
  }
}

// The label a checkpoint was trained on against the label of the batches it is
// to score: their kinds and names must agree (a model of 4 hair colours cannot
// score 3 flower classes). Unknown on either side passes.
void require_trained_label(const std::string& path, const LabelSpec& trained,
                           const ElementSpec& input, SpecContext& ctx) {
  if (!input.label || input.label->kind == LabelSpec::Kind::kUnknown ||
      trained.kind == LabelSpec::Kind::kUnknown) {
    return;
  }
  const LabelSpec& label = *input.label;
  if (label.kind == trained.kind && label.names == trained.names) return;
  ctx.error("checkpoint", path + " was trained on a " + trained.to_string() +
                              " label but its input label is " + label.to_string() +
                              label_origin(label) +
                              "; score it on data with the label it was trained on");
}

std::string size_text(int width, int height) {
  return std::to_string(width) + "x" + std::to_string(height);
}

// "uint8->normalize imagenet", "uint8->rescale 1/255" (as `sluice check` prints
// specs), "uint8 (unscaled)".
std::string scaling_text(const Normalization& n, const std::string& name) {
  ImageSpec spec;
  spec.normalization = n;
  spec.normalization_name = name;
  return spec.pixel_string() + (n.kind == Normalization::Kind::kNone ? " (unscaled)" : "");
}

bool close(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(std::abs(a), 1.0); }

bool same_scaling(const Normalization& a, const Normalization& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Normalization::Kind::kNone:
      return true;
    case Normalization::Kind::kRescale:
      return close(a.scale, b.scale);
    case Normalization::Kind::kMeanStd:
      for (int c = 0; c < 3; ++c) {
        if (!close(a.mean[c], b.mean[c]) || !close(a.std[c], b.std[c])) return false;
      }
      return true;
  }
  return false;
}

void require_trained_geometry(const std::string& path, const InputSpec& trained,
                              const ImageSpec& image, const std::string& by, SpecContext& ctx) {
  if (image.fixed_size() && (image.width != trained.width || image.height != trained.height)) {
    ctx.error("checkpoint", path + " was trained on " + size_text(trained.width, trained.height) +
                                " images (width x height) but its input images are " +
                                size_text(image.width, image.height) + by + "; resize them to " +
                                size_text(trained.width, trained.height));
  }
  if (image.channels > 0 && image.channels != trained.channels) {
    ctx.error("checkpoint", path + " was trained on " + std::to_string(trained.channels) +
                                "-channel images but its input images have " +
                                std::to_string(image.channels) + " channels");
  }
}

// Images that arrive unscaled ("uint8") take the checkpoint's scaling when the
// stage runs (apply_training_input); scaled differently, they are refused.
void require_trained_scaling(const std::string& path, const InputSpec& trained,
                             const ImageSpec& image, const std::string& by, SpecContext& ctx) {
  if (image.normalization.kind == Normalization::Kind::kNone) return;
  if (same_scaling(image.normalization, trained.normalization)) return;
  ctx.error("checkpoint",
            path + " was trained on pixels scaled " +
                scaling_text(trained.normalization, trained.normalization_name) +
                " but its input images are scaled " + image.pixel_string() + by +
                "; scale them as the checkpoint was trained, or leave them unscaled (normalize "
                "= \"none\", no rescale) to take the checkpoint's scaling");
}

// The checkpoint's recorded input geometry and pixel scaling against the incoming
// images.
void require_trained_input(const Params& p, const ElementSpec& input, SpecContext& ctx,
                           bool check_label) {
  const std::string& path = p.get_string("checkpoint");
  if (path.empty() || !std::filesystem::is_regular_file(path)) return;
  CheckpointInfo info;
  try {
    info = read_checkpoint_info(path);
  } catch (const std::exception& e) {
    ctx.error("checkpoint", std::string("cannot read the checkpoint: ") + e.what());
    return;
  }
  if (check_label) require_trained_label(path, info.state.label, input, ctx);
  const InputSpec& trained = info.state.input;
  const ImageSpec& image = *input.image;
  if (trained.height == 0 || !input.image) return;  // saved before it saw a batch
  const std::string by = image.size_from.empty() ? "" : " (set by stage '" + image.size_from + "')";
  require_trained_geometry(path, trained, image, by, ctx);
  require_trained_scaling(path, trained, image, by, ctx);
}

// A resume continues the checkpoint's model on what it was trained on: the label
// schema (kind and class or attribute names), the image size and channels, and the
// pixel scaling must be the checkpoint's (a new size or label is a new run).
void require_resumed_contract(const std::string& path, const TrainingState& trained,
                              const ElementSpec& input, SpecContext& ctx) {
  const std::string fix =
      "; resume with what it was trained on, or train this in a new run "
      "(a new output_dir, without resume)";
  const LabelSpec& label = trained.label;
  if (input.label && input.label->kind != LabelSpec::Kind::kUnknown &&
      label.kind != LabelSpec::Kind::kUnknown &&
      (input.label->kind != label.kind || input.label->names != label.names)) {
    ctx.error("resume", "resume: " + path + " was trained on a " + label.to_string() +
                            " label but its input label is " + input.label->to_string() +
                            label_origin(*input.label) + fix);
  }
  const InputSpec& was = trained.input;
  if (was.height == 0 || !input.image) return;  // saved before it saw a batch
  const ImageSpec& image = *input.image;
  const std::string by = image.size_from.empty() ? "" : " (set by stage '" + image.size_from + "')";
  if (image.fixed_size() && (image.width != was.width || image.height != was.height)) {
    ctx.error("resume", "resume: " + path + " was trained on " + size_text(was.width, was.height) +
                            " images (width x height) but its input images are " +
                            size_text(image.width, image.height) + by + fix);
  }
  if (image.channels > 0 && image.channels != was.channels) {
    ctx.error("resume", "resume: " + path + " was trained on " + std::to_string(was.channels) +
                            "-channel images but its input images have " +
                            std::to_string(image.channels) + " channels" + fix);
  }
  if (!same_scaling(image.normalization, was.normalization)) {
    ctx.error("resume", "resume: " + path + " was trained on pixels scaled " +
                            scaling_text(was.normalization, was.normalization_name) +
                            " but its input images are scaled " +
                            scaling_text(image.normalization, image.normalization_name) + by + fix);
  }
}

// The checkpoint to resume: its contract, and a checkpoint written mid-epoch
// continues only with the global batch it was cut into (stages/train/resume_position.h).
void require_resumable(const Params& p, const ElementSpec& input, SpecContext& ctx) {
  const std::string& path = p.get_string("resume");
  if (path.empty() || !std::filesystem::is_regular_file(path)) return;
  CheckpointInfo info;
  try {
    info = read_checkpoint_info(path);
  } catch (const std::exception&) {
    return;  // the run names the file it cannot load; here only positions are compared
  }
  require_resumed_contract(path, info.state, input, ctx);
  const std::string problem =
      resume_position_problem(path, info.state, p.get_string("train_split"), input.batch_size,
                              launch_env_from_environment().world_size);
  if (!problem.empty()) ctx.error("resume", "resume: " + problem);
}

// eval.classifier scores the batches of one split: a split no source upstream
// emits would score nothing.
void require_emitted_split(const Params& p, const ElementSpec& input, SpecContext& ctx) {
  const std::string& split = p.get_string("split");
  if (split.empty() || input.splits.empty()) return;  // every batch, or not known
  if (std::find(input.splits.begin(), input.splits.end(), split) != input.splits.end()) return;
  ctx.error("split", "split '" + split + "' never reaches it: its input carries only " +
                         quoted_list(input.splits) + " (" + input.to_string() +
                         "); set split = \"" + input.splits.front() +
                         "\", or split = \"\" to score every batch");
}

// The watched metric (early stopping, best.pt, a plateau schedule) of a val_*
// name needs a validation split in the stream; without one it never has a value.
void require_validation_for_monitor(const Params& p, const ElementSpec& input, SpecContext& ctx) {
  if (input.splits.empty()) return;  // not known
  const std::string& validation = p.get_string("validation_split");
  if (std::find(input.splits.begin(), input.splits.end(), validation) != input.splits.end()) {
    return;
  }
  const std::string fix =
      ": add a validation split (dir.index split = [\"train\", "
      "\"validation\"], celeba.index split = [\"train\", \"validation\"], "
      "csv.index split_column), or monitor = \"loss\"";
  const std::string splits = "its input carries only " + quoted_list(input.splits) + " (" +
                             input.to_string() + "), no '" + validation + "' split";
  const std::string monitor = canonical_metric_name(p.get_string("monitor"));
  const bool watched = p.get_int("patience") > 0 || p.get_bool("save_best");
  if (watched && monitor.rfind("val_", 0) == 0) {
    ctx.error("monitor", "monitor = \"" + p.get_string("monitor") +
                             "\" (early stopping and best.pt) has no value: " + splits + fix);
  }
  const std::string lr_monitor = canonical_metric_name(p.get_string("lr_monitor"));
  if (p.get_string("lr_schedule") == "plateau" && lr_monitor.rfind("val_", 0) == 0) {
    ctx.error("lr_monitor", "lr_monitor = \"" + p.get_string("lr_monitor") +
                                "\" (the plateau schedule) has no value: " + splits +
                                ": add a validation split, or lr_monitor = \"loss\"");
  }
}

}  // namespace

void train_vgg_accepts(const Params& p, const ElementSpec& input, SpecContext& ctx) {
  require_trainable_label(input, ctx);
  require_pos_weight(p, input, ctx);
  require_resumable(p, input, ctx);
  check_callback_params(p, input, ctx);
  require_validation_for_monitor(p, input, ctx);
  if (input.epoch_sources.size() > 1) {
    ctx.error("", "its input merges the epochs of sources " + quoted_list(input.epoch_sources) +
                      ": their end-of-epoch markers interleave, so it would end every epoch " +
                      std::to_string(input.epoch_sources.size()) +
                      " times and see the splits out of order. Read the splits from one source "
                      "instead: one celeba.index or dir.index with split = [\"train\", "
                      "\"validation\"] (dir.index then reads ROOT/train/<class>/ and "
                      "ROOT/validation/<class>/), or one csv.index with a split_column");
  }
}

void eval_classifier_accepts(const Params& p, const ElementSpec& input, SpecContext& ctx) {
  require_emitted_split(p, input, ctx);
  require_trained_input(p, input, ctx, /*check_label=*/true);
}

void predict_csv_accepts(const Params& p, const ElementSpec& input, SpecContext& ctx) {
  require_trained_input(p, input, ctx, /*check_label=*/false);
}

}  // namespace sluice::train
