// Element specs at validation: sources' specs flow through transforms (by
// their declared function or the pass-through default), consumers refuse what
// they cannot take at a located position, the stream's epoch sources merge at
// a fan-in, and specs print compactly.
#include <gtest/gtest.h>

#include "pipeline/config.h"
#include "pipeline/element_spec.h"
#include "pipeline/validate.h"
#include "tests/pipeline/test_stages.h"
#include "vision/payloads.h"

namespace sluice {
namespace {

std::string text(const char* s) { return std::string(s[0] == '\n' ? s + 1 : s); }

class Nothing : public Source {
 public:
  explicit Nothing(const Params&) {}
  bool produce(Emitter&) override { return false; }
};
class PassOn : public Transform {
 public:
  explicit PassOn(const Params&) {}
  void process(std::any& in, Emitter& out) override { out.forward(Packet::data(std::move(in))); }
};
class Drop : public Sink {
 public:
  explicit Drop(const Params&) {}
  void consume(std::any&) override {}
};

// test_registry() plus stages that declare specs.
Registry spec_registry() {
  Registry r = testing::test_registry();
  r.add<Nothing>(StageSpec("spec.labels")
                     .source<Sample>()
                     .param(ParamSpec::strings("classes", {"a", "b"}, "class names"))
                     .param(ParamSpec::integer("epochs", 1, "passes"))
                     .output_spec([](const Params& p, SpecContext& ctx) {
                       ElementSpec out;
                       out.type = payload_name<Sample>();
                       out.label = LabelSpec::from_classes("y", p.get_strings("classes"),
                                                           ctx.stage_id(), "classes");
                       out.epochs = p.get_int("epochs");
                       out.splits = {"train", "validation"};
                       for (const auto& c : p.get_strings("classes")) {
                         if (c.empty()) ctx.error("classes", "class names must not be empty");
                       }
                       return out;
                     }));
  r.add<Nothing>(StageSpec("spec.throws")
                     .source<Sample>()
                     .output_spec([](const Params&, SpecContext&) -> ElementSpec {
                       throw std::runtime_error("no index");
                     }));
  r.add<PassOn>(StageSpec("spec.pass").transform<Sample, Sample>());
  r.add<PassOn>(StageSpec("spec.to_image").transform<Sample, Image>());
  r.add<PassOn>(
      StageSpec("spec.size")
          .transform<Image, Image>()
          .param(ParamSpec::integer("width", 8, "width"))
          .output_spec([](const Params& p, const std::vector<ElementSpec>& in, SpecContext& ctx) {
            ElementSpec out = in.at(0);
            out.image = ImageSpec{};
            out.image->width = static_cast<int>(p.get_int("width"));
            out.image->height = 4;
            out.image->channels = 3;
            out.image->size_from = ctx.stage_id();
            return out;
          }));
  r.add<Drop>(StageSpec("spec.binary_only")
                  .sink<AnyPayload>()
                  .accepts([](const Params&, const ElementSpec& in, SpecContext& ctx) {
                    if (in.label && in.label->kind != LabelSpec::Kind::kBinary) {
                      ctx.error("", "input label is " + in.label->to_string());
                    }
                  }));
  return r;
}

ValidatedGraph validated(const std::string& toml, std::vector<Diagnostic>& errors) {
  Registry registry = spec_registry();
  GraphConfig config = load_config_string(toml, "test.toml", {}, errors);
  return validate(config, registry, errors);
}

TEST(SpecPropagation, SourceSpecFlowsThroughPassThroughTransforms) {
  std::vector<Diagnostic> errors;
  ValidatedGraph g = validated(text(R"(
[stages.src]
use = "spec.labels"
epochs = 3

[stages.pass]
use = "spec.pass"
input = "src"

[stages.sink]
use = "spec.binary_only"
input = "pass"
)"),
                               errors);
  ASSERT_TRUE(errors.empty()) << format_diagnostic(errors[0]);
  const ElementSpec& out = g.find("pass")->output_spec;
  ASSERT_TRUE(out.label);
  EXPECT_EQ(out.label->kind, LabelSpec::Kind::kBinary);
  EXPECT_EQ(out.label->from_stage, "src");
  EXPECT_EQ(out.epoch_sources, std::vector<std::string>{"src"});
  EXPECT_EQ(out.to_string(), "Sample{label: binary \"y\" (a/b)} [3 epochs: train, validation]");
  EXPECT_EQ(g.find("sink")->output_spec.to_string(), "unknown");  // a sink emits nothing
}

TEST(SpecPropagation, TypeChangingTransformWithoutSpecKeepsOnlyItsTypeAndTheStream) {
  std::vector<Diagnostic> errors;
  ValidatedGraph g = validated(text(R"(
[stages.src]
use = "spec.labels"
epochs = 2

[stages.img]
use = "spec.to_image"
input = "src"

[stages.size]
use = "spec.size"
input = "img"
width = 16
)"),
                               errors);
  ASSERT_TRUE(errors.empty()) << format_diagnostic(errors[0]);
  EXPECT_EQ(g.find("img")->output_spec.to_string(), "Image [2 epochs: train, validation]");
  EXPECT_EQ(g.find("size")->output_spec.to_string(),
            "Image{4x16x3 uint8} [2 epochs: train, validation]");
}

TEST(SpecPropagation, ConsumerRefusalIsLocatedAtItsStageHeader) {
  std::vector<Diagnostic> errors;
  validated(text(R"(
[stages.src]
use = "spec.labels"
classes = ["a", "b", "c"]

[stages.sink]
use = "spec.binary_only"
input = "src"
)"),
            errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].where.line, 5);
  EXPECT_EQ(errors[0].where.column, 1);
  EXPECT_EQ(errors[0].message,
            "stage 'sink' (spec.binary_only): input label is categorical with 3 classes (a, b, c)");
}

TEST(SpecPropagation, SourceErrorIsLocatedAtTheParameterValue) {
  std::vector<Diagnostic> errors;
  validated(text(R"(
[stages.src]
use = "spec.labels"
classes = ["a", ""]
)"),
            errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].where.file, "test.toml");
  EXPECT_EQ(errors[0].where.line, 3);
  EXPECT_EQ(errors[0].where.column, 11);
  EXPECT_EQ(errors[0].message, "stage 'src' (spec.labels): class names must not be empty");
}

TEST(SpecPropagation, ThrowingSpecFunctionIsAnErrorOfItsStage) {
  std::vector<Diagnostic> errors;
  validated(text(R"(
[stages.src]
use = "spec.throws"
)"),
            errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].where.line, 1);
  EXPECT_NE(
      errors[0].message.find("stage 'src' (spec.throws): computing its element spec: no index"),
      std::string::npos)
      << errors[0].message;
}

TEST(SpecPropagation, NotRunWhenValidationAlreadyFailed) {
  std::vector<Diagnostic> errors;
  validated(text(R"(
[stages.src]
use = "spec.throws"
colour = "red"
)"),
            errors);
  ASSERT_EQ(errors.size(), 1u);  // the unknown parameter only; no cascade
  EXPECT_NE(errors[0].message.find("unknown parameter 'colour'"), std::string::npos);
}

TEST(SpecPropagation, FanInMergesTheEpochSourcesOfItsInputs) {
  std::vector<Diagnostic> errors;
  ValidatedGraph g = validated(text(R"(
[stages.a]
use = "spec.labels"

[stages.b]
use = "spec.labels"
classes = ["a", "b", "c"]

[stages.both]
use = "spec.pass"
input = ["a", "b"]
)"),
                               errors);
  ASSERT_TRUE(errors.empty()) << format_diagnostic(errors[0]);
  const ElementSpec& out = g.find("both")->output_spec;
  EXPECT_EQ(out.epoch_sources, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(out.label) << "a merge passes no label unless its stage says";
  EXPECT_EQ(out.type, "Sample");
}

TEST(SpecPropagation, StagesWithoutSpecsValidateAsBefore) {
  std::vector<Diagnostic> errors;
  ValidatedGraph g = validated(text(R"(
[stages.numbers]
use = "test.count"

[stages.add]
use = "test.jitter"
input = "numbers"

[stages.text]
use = "test.to_string"
input = "add"
)"),
                               errors);
  ASSERT_TRUE(errors.empty()) << format_diagnostic(errors[0]);
  EXPECT_EQ(g.find("add")->output_spec.to_string(), "Int");
  EXPECT_EQ(g.find("text")->output_spec.to_string(), "String");
}

TEST(ElementSpec, PrintsCompactly) {
  ElementSpec b;
  b.type = payload_name<Batch>();
  b.batch_size = 32;
  b.image = ImageSpec{};
  b.image->width = 64;
  b.image->height = 80;
  b.image->channels = 3;
  b.image->normalization.kind = Normalization::Kind::kRescale;
  b.image->normalization.scale = 0.00392156862745098;
  b.label = LabelSpec::from_classes("Male", {"not Male", "Male"}, "index", "label");
  b.attributes = {"Eyeglasses", "Young"};
  EXPECT_EQ(b.to_string(),
            "Batch{32 x 80x64x3 uint8->rescale 1/255, label: binary \"Male\" (not Male/Male), "
            "attributes: 2}");
  b.image->normalization.kind = Normalization::Kind::kMeanStd;
  b.image->normalization_name = "imagenet";
  b.image->width = b.image->height = 0;
  b.batch_size = 0;
  b.label = LabelSpec::from_classes("class", {"0", "1", "2"}, "index", "file");
  b.attributes.clear();
  EXPECT_EQ(b.to_string(),
            "Batch{variable size x3 uint8->normalize imagenet, label: categorical with 3 classes "
            "(0, 1, 2)}");
}

}  // namespace
}  // namespace sluice
