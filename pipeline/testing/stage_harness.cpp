#include "pipeline/testing/stage_harness.h"

#include <memory>
#include <mutex>

#include "pipeline/validate.h"

namespace sluice {
namespace {

class Feed : public Source {
 public:
  explicit Feed(std::shared_ptr<std::vector<Packet>> items) : items_(std::move(items)) {}
  bool produce(Emitter& out) override {
    if (next_ >= items_->size()) return false;
    out.forward((*items_)[next_++]);
    return true;
  }

 private:
  std::shared_ptr<std::vector<Packet>> items_;
  size_t next_ = 0;
};

class Collect : public Sink {
 public:
  explicit Collect(std::shared_ptr<std::vector<Packet>> out) : out_(std::move(out)) {}
  void consume(std::any& in) override { out_->push_back(Packet::data(in)); }
  void on_control(const Control& c, Emitter&) override { out_->push_back(Packet::control(c)); }

 private:
  std::shared_ptr<std::vector<Packet>> out_;
};

}  // namespace

std::vector<std::any> HarnessOutput::payloads() const {
  std::vector<std::any> out;
  for (const auto& p : packets)
    if (!p.is_control) out.push_back(p.value);
  return out;
}

std::vector<Control> HarnessOutput::controls() const {
  std::vector<Control> out;
  for (const auto& p : packets)
    if (p.is_control) out.push_back(p.as_control());
  return out;
}

StageHarness::StageHarness(const Registry& registry, std::string stage_toml, RunOptions options)
    : registry_(registry), stage_toml_(std::move(stage_toml)), options_(std::move(options)) {}

HarnessOutput StageHarness::run(std::vector<std::any> inputs) {
  std::vector<Packet> packets;
  for (auto& v : inputs) packets.push_back(Packet::data(std::move(v)));
  return run_packets(std::move(packets));
}

HarnessOutput StageHarness::run_packets(std::vector<Packet> inputs) {
  auto feed = std::make_shared<std::vector<Packet>>(std::move(inputs));
  auto collected = std::make_shared<std::vector<Packet>>();
  Registry reg = registry_;
  reg.set_origin("stage harness");
  reg.add(StageSpec("harness.feed").source<AnyPayload>(),
          [feed](const Params&) { return std::make_unique<Feed>(feed); });
  reg.add(StageSpec("harness.collect").sink<AnyPayload>().ordered(),
          [collected](const Params&) { return std::make_unique<Collect>(collected); });

  // Probe the stage's kind to decide what to wire around it.
  std::vector<Diagnostic> errors;
  GraphConfig probe = load_config_string("[stages.under_test]\n" + stage_toml_ + "\n",
                                         "<harness>", {}, errors);
  if (!errors.empty()) throw ConfigError(errors);
  const StageDecl* decl = probe.find("under_test");
  const std::string* use = decl && decl->use ? std::get_if<std::string>(&decl->use->value) : nullptr;
  const StageEntry* entry = use ? reg.find(*use) : nullptr;
  StageKind kind = entry ? entry->spec.kind : StageKind::kTransform;

  std::string text;
  if (kind != StageKind::kSource) text += "[stages.feed]\nuse = \"harness.feed\"\n\n";
  text += "[stages.under_test]\n" + stage_toml_ + "\n";
  if (kind != StageKind::kSource) text += "input = \"feed\"\n";
  if (kind != StageKind::kSink) {
    text += "\n[stages.collect]\nuse = \"harness.collect\"\ninput = \"under_test\"\n";
  }
  ValidatedGraph g = load_pipeline_string(text, "<harness>", {}, reg);
  HarnessOutput out;
  out.report = run_graph(g, options_);
  out.packets = std::move(*collected);
  return out;
}

}  // namespace sluice
