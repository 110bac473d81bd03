// A plugin that registers a new stage and one whose name a built-in stage
// already has: refused as a whole, so neither is added.
#include "pipeline/plugin_api.h"
#include "vision/payloads.h"

namespace {
class Pass : public sluice::Transform {
 public:
  explicit Pass(const sluice::Params&) {}
  void process(std::any& in, sluice::Emitter& out) override { out.emit(std::move(in)); }
};
}  // namespace

SLUICE_PLUGIN(duplicate, registry) {
  registry.add<Pass>(
      sluice::StageSpec("dup.unique").transform<sluice::AnyPayload, sluice::AnyPayload>());
  registry.add<Pass>(sluice::StageSpec("image.decode").transform<sluice::Sample, sluice::Image>());
}
