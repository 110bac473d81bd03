// Runs one stage in isolation, configured from an inline TOML snippet, and
// collects what it emits: the way to unit-test a stage.
//
//   sluice::StageHarness h(registry, R"(use = "math.scale"
//                                      factor = 3)");
//   auto out = h.run({int64_t{1}, int64_t{2}});   // -> payloads 3, 6
//   EXPECT_EQ(sluice::payload_as<int64_t>(out.payloads()[0]), 3);
//
// Sources run with no feed; sinks run with no collector. The stage runs in a
// real graph (same wrapper, ordering and error handling as in production).
#pragma once

#include <any>
#include <string>
#include <vector>

#include "pipeline/registry.h"
#include "pipeline/runner.h"

namespace sluice {

struct HarnessOutput {
  std::vector<Packet> packets;  // payloads and markers, in stream order
  RunReport report;
  std::vector<std::any> payloads() const;
  std::vector<Control> controls() const;
};

class StageHarness {
 public:
  // `stage_toml`: the body of a [stages.ID] table (use = ..., parameters...).
  StageHarness(const Registry& registry, std::string stage_toml, RunOptions options = {});
  // Feeds `inputs` (payloads, or Packets for markers) and runs to the end.
  HarnessOutput run(std::vector<std::any> inputs = {});
  HarnessOutput run_packets(std::vector<Packet> inputs);

 private:
  Registry registry_;
  std::string stage_toml_;
  RunOptions options_;
};

}  // namespace sluice
