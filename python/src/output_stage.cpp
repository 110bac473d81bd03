#include "python/src/output_stage.h"

#include <set>
#include <string>
#include <utility>

#include "vision/payloads.h"

namespace sluice::python {
namespace {

class OutputStage : public Sink {
 public:
  explicit OutputStage(std::shared_ptr<OutputQueue> queue) : queue_(std::move(queue)) {}
  ~OutputStage() override { queue_->detach(); }

  void open(StageContext& ctx) override { queue_->attach(&ctx); }

  void consume(std::any& in) override { queue_->push(OutputItem{std::move(in), std::nullopt}); }

  void on_control(const Control& c, Emitter&) override {
    if (c.kind == ControlKind::kEndOfSplit || c.kind == ControlKind::kEndOfEpoch) {
      queue_->push(OutputItem{{}, c});
    }
  }

 private:
  std::shared_ptr<OutputQueue> queue_;
};

// The payloads Python knows how to show (python/src/payload_convert.cpp).
void accept_known_payloads(const Params&, const ElementSpec& in, SpecContext& ctx) {
  static const std::set<std::string> kKnown = {"Batch", "Image", "Sample",
                                               "Int",   "Float", "String"};
  if (in.type.empty() || kKnown.count(in.type)) return;
  ctx.error("", "Python cannot take " + in.type +
                    " payloads; the output must emit Batch, Image, Sample, Int, Float or String");
}

}  // namespace

void register_output_stage(Registry& registry,
                           std::function<std::shared_ptr<OutputQueue>()> queue) {
  registry.add(StageSpec(kOutputStageType)
                   .sink<AnyPayload>()
                   .ordered()
                   .doc("hands the stream to Python (added by sluice.Pipeline)")
                   .accepts(accept_known_payloads),
               [queue](const Params&) { return std::make_unique<OutputStage>(queue()); });
}

}  // namespace sluice::python
