// Element specs: what flows on each edge of a graph, computed at validation
// before anything runs (the idea of tf.data's `element_spec` and MediaPipe's
// GetContract).
//
// A source derives its spec from its parameters (and, cheaply, its index
// file's header); a transform maps input specs to its output spec; a consumer
// states what it accepts. A stage declares these on its StageSpec:
//
//   StageSpec("my.resize")
//       .transform<Image, Image>()
//       .output_spec([](const Params& p, const std::vector<ElementSpec>& in, SpecContext&) {
//         ElementSpec out = in.at(0);  // label, attributes, pixel format unchanged
//         if (out.image) out.image->width = static_cast<int>(p.get_int("width"));
//         return out;
//       });
//   StageSpec("my.trainer")
//       .sink<Batch>()
//       .accepts([](const Params&, const ElementSpec& in, SpecContext& ctx) {
//         if (in.label && in.label->kind == LabelSpec::Kind::kCategorical)
//           ctx.error("", "input label is " + in.label->to_string() + ", expected binary");
//       });
//
// Everything optional is "not known": a graph whose stages declare nothing
// validates as before. Specs print compactly, e.g.
//   Batch{32 x 80x64x3 uint8->rescale 1/255, label: binary "Male" (Female/Male)}
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/diagnostics.h"

namespace sluice {

// Output pixel scaling requested by the augment stage, applied once per batch
// (on the GPU when training there) rather than per image.
struct Normalization {
  enum class Kind { kNone, kRescale, kMeanStd } kind = Kind::kNone;
  double scale = 1.0;                // kRescale: x * scale
  double mean[3] = {0.0, 0.0, 0.0};  // kMeanStd: (x/255 - mean) / std
  double std[3] = {1.0, 1.0, 1.0};
};

// What the label (Sample::label, Batch::labels) of each element means.
struct LabelSpec {
  enum class Kind { kUnknown, kBinary, kCategorical, kMultiLabel };
  Kind kind = Kind::kUnknown;
  // binary: the attribute or column the label comes from ("Male", "label");
  // categorical: the column or folder it comes from.
  std::string attribute;
  // binary: {name of 0, name of 1}; categorical: the N class names by id;
  // multi-label: the K attribute names.
  std::vector<std::string> names;
  std::string from_stage;  // the stage and parameter that decided it
  std::string from_param;

  // Binary when there are exactly two classes (ids 0 and 1), else categorical.
  static LabelSpec from_classes(std::string attribute, std::vector<std::string> class_names,
                                std::string stage, std::string param);
  // "binary \"Male\" (Female/Male)", "categorical with 3 classes (0, 1, 2)".
  std::string to_string() const;
};
const char* label_kind_name(LabelSpec::Kind kind);

// Geometry and pixel format of Image elements (and of each image of a Batch).
// Pixels travel as uint8; `normalization` is the scaling still to apply, as
// Image::normalization (set by image.augment, applied once per batch).
struct ImageSpec {
  int width = 0;     // 0: varies from image to image
  int height = 0;    // 0: varies
  int channels = 0;  // 0: not known
  Normalization normalization;
  std::string normalization_name;  // "imagenet" for its mean/std; empty otherwise
  std::string size_from;           // the stage that fixed width x height

  bool fixed_size() const { return width > 0 && height > 0; }
  // "80x64x3" (height x width x channels, as NHWC) or "variable size x3".
  std::string shape_string() const;
  // "uint8", "uint8->rescale 1/255", "uint8->normalize imagenet".
  std::string pixel_string() const;
};

// What the elements on one edge are, and what stream they come in.
struct ElementSpec {
  std::string type;  // readable payload type name (PortType::name): "Image"; empty: unknown
  std::optional<LabelSpec> label;
  std::optional<ImageSpec> image;
  int64_t batch_size = 0;               // Batch: images per batch (the last may be smaller)
  std::vector<std::string> attributes;  // extra attributes carried (Sample::attr_names)
  // The stream: sources that emit `epochs` passes closed by end-of-epoch
  // markers, each pass holding `splits` in order. The framework carries these
  // through transforms; a source states them.
  int64_t epochs = 0;  // 0: no epoch markers (or not known)
  std::vector<std::string> splits;
  std::vector<std::string> epoch_sources;  // ids of the sources whose epochs this stream merges
  // The first stage upstream (or this one) whose output depends on the run's
  // random numbers (StageSpec::random), as "stage 'ID' (TYPE): why"; empty
  // when every stage on the way is deterministic. Carried by the framework.
  std::string random_from;

  // "Sample{label: binary \"Male\" (Female/Male), attributes: 2} [14 epochs: train, validation]"
  std::string to_string() const;
};

// What a stage's spec function gets besides its parameters: where to report
// a problem, and the folder of the top-level config file.
class SpecContext {
 public:
  SpecContext(std::string stage_id, std::string stage_type, SourceLocation header,
              std::map<std::string, SourceLocation> param_where, std::string config_dir,
              std::vector<Diagnostic>* errors);

  const std::string& stage_id() const { return stage_id_; }
  const std::string& stage_type() const { return stage_type_; }
  // The folder of the top-level config file. Built-in stages resolve relative
  // paths against the working directory, as they do when running.
  const std::string& config_dir() const { return config_dir_; }
  // Records "stage 'ID' (TYPE): MESSAGE" at the value of parameter `key` as
  // written in the config, or at the stage's [stages.ID] header when `key` is
  // empty or was not written (a default).
  void error(const std::string& key, const std::string& message);
  bool failed() const { return failed_; }

 private:
  std::string stage_id_;
  std::string stage_type_;
  SourceLocation header_;
  std::map<std::string, SourceLocation> param_where_;
  std::string config_dir_;
  std::vector<Diagnostic>* errors_;
  bool failed_ = false;
};

}  // namespace sluice
