// Typed ports: a stage names the C++ payload type of each port, and validation
// refuses an edge whose types differ, at the edge's position in the config,
// naming both stages, both ports and both types; a payload type that only
// shares a readable name with another is a different type.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pipeline/config.h"
#include "pipeline/payload_text.h"
#include "pipeline/validate.h"
#include "vision/payloads.h"

namespace look_alike {
// Named "Image" like sluice::Image, but another C++ type.
struct Image {
  int width = 0;
};
}  // namespace look_alike

SLUICE_PAYLOAD_NAME(look_alike::Image, "Image");

namespace sluice {
namespace {

class EmitNothing : public Source {
 public:
  explicit EmitNothing(const Params&) {}
  bool produce(Emitter&) override { return false; }
};

class Drop : public Sink {
 public:
  explicit Drop(const Params&) {}
  void consume(std::any&) override {}
};

Registry typed_registry() {
  Registry r;
  r.add<EmitNothing>(StageSpec("test.images").source<Image>());
  r.add<Drop>(StageSpec("test.batch_sink").sink<Batch>());
  r.add<Drop>(StageSpec("test.image_sink").sink<Image>());
  r.add<Drop>(StageSpec("test.look_alike_sink").sink<look_alike::Image>());
  r.add<Drop>(StageSpec("test.any_sink").sink<AnyPayload>());
  return r;
}

// The errors of validating a two-stage graph: test.images -> `sink_type`.
std::vector<Diagnostic> errors_wiring_images_into(const std::string& sink_type) {
  const Registry registry = typed_registry();
  const std::string toml =
      "[stages.images]\n"
      "use = \"test.images\"\n"
      "\n"
      "[stages.sink]\n"
      "use = \"" +
      sink_type +
      "\"\n"
      "input = \"images\"\n";
  std::vector<Diagnostic> errors;
  GraphConfig config = load_config_string(toml, "typed.toml", {}, errors);
  validate(config, registry, errors);
  return errors;
}

TEST(TypedPorts, SpecRecordsReadableNameAndCppType) {
  const Registry registry = typed_registry();
  const StageSpec& images = registry.find("test.images")->spec;
  EXPECT_EQ(images.output.name, "Image");
  ASSERT_NE(images.output.type, nullptr);
  EXPECT_TRUE(*images.output.type == typeid(Image));
  EXPECT_FALSE(images.input.present);  // a source has no input port
  EXPECT_EQ(port_type<int64_t>().name, "Int");
  EXPECT_EQ(port_type<std::string>().describe(), "String (std::string)");
  EXPECT_TRUE(registry.find("test.any_sink")->spec.input.is_any());
}

TEST(TypedPorts, ImageOutputIntoBatchInputIsRefusedNamingStagesPortsAndTypes) {
  const std::vector<Diagnostic> errors = errors_wiring_images_into("test.batch_sink");
  ASSERT_EQ(errors.size(), 1u);
  const Diagnostic& e = errors[0];
  EXPECT_EQ(e.where.file, "typed.toml");
  EXPECT_EQ(e.where.line, 6);  // the edge: `input = "images"`
  EXPECT_EQ(e.where.column, 9);
  EXPECT_EQ(e.message,
            "port type mismatch: input 'images' (test.images) emits Image (" +
                cpp_type_name(typeid(Image)) +
                ") from its output port, but stage 'sink' (test.batch_sink) takes Batch (" +
                cpp_type_name(typeid(Batch)) + ") on its input port");
  EXPECT_NE(e.message.find("sluice::"), std::string::npos) << e.message;
}

TEST(TypedPorts, SameReadableNameButAnotherCppTypeIsRefused) {
  const std::vector<Diagnostic> errors = errors_wiring_images_into("test.look_alike_sink");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("emits Image (" + cpp_type_name(typeid(Image)) + ")"),
            std::string::npos)
      << errors[0].message;
  EXPECT_NE(errors[0].message.find("takes Image (look_alike::Image)"), std::string::npos)
      << errors[0].message;
}

TEST(TypedPorts, SameTypeAndAnyPortsConnect) {
  EXPECT_TRUE(errors_wiring_images_into("test.image_sink").empty());
  EXPECT_TRUE(errors_wiring_images_into("test.any_sink").empty());
}

TEST(PayloadText, APortOfAPayloadTypeRegistersItsDescription) {
  // What a stage declaring .source<Sample>() or .transform<Image, ...>() does.
  (void)port_type<Sample>();
  (void)port_type<Image>();
  Sample s;
  s.path = "img/000001.jpg";
  s.origin = "list.csv:2";
  EXPECT_EQ(describe_payload(std::any(s)), "Sample img/000001.jpg (list.csv:2)");
  Image im;
  im.sample = s;
  EXPECT_EQ(describe_payload(std::any(im)), "Image img/000001.jpg (list.csv:2)");
  EXPECT_EQ(describe_payload(std::any(int64_t{42})), "Int 42");
  EXPECT_EQ(describe_payload(std::any(look_alike::Image{})), "a value of type look_alike::Image");
}

}  // namespace
}  // namespace sluice
