#include "stages/train/train_specs.h"

#include <filesystem>

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

// One sigmoid output learns or scores a binary label; unknown labels pass.
void require_binary_label(const ElementSpec& input, const std::string& what, SpecContext& ctx) {
  if (!input.label) return;
  const LabelSpec& label = *input.label;
  if (label.kind == LabelSpec::Kind::kBinary || label.kind == LabelSpec::Kind::kUnknown) return;
  ctx.error("", "input label is " + label.to_string() + " but " + ctx.stage_type() + " " + what +
                    " one binary output" + label_origin(label));
}

std::string size_text(int width, int height) {
  return std::to_string(width) + "x" + std::to_string(height);
}

// The checkpoint's recorded input geometry against the incoming images.
void require_trained_size(const Params& p, const ElementSpec& input, SpecContext& ctx) {
  const std::string& path = p.get_string("checkpoint");
  if (path.empty() || !std::filesystem::is_regular_file(path) || !input.image) return;
  CheckpointInfo info;
  try {
    info = read_checkpoint_info(path);
  } catch (const std::exception& e) {
    ctx.error("checkpoint", std::string("cannot read the checkpoint: ") + e.what());
    return;
  }
  const InputSpec& trained = info.state.input;
  const ImageSpec& image = *input.image;
  if (trained.height == 0) return;  // saved before it saw a batch
  const std::string by = image.size_from.empty() ? "" : " (set by stage '" + image.size_from + "')";
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

}  // namespace

void train_vgg_accepts(const Params&, const ElementSpec& input, SpecContext& ctx) {
  require_binary_label(input, "trains", ctx);
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
  require_binary_label(input, "scores", ctx);
  require_trained_size(p, input, ctx);
}

void predict_csv_accepts(const Params& p, const ElementSpec& input, SpecContext& ctx) {
  require_trained_size(p, input, ctx);
}

}  // namespace sluice::train
