// Fuzz target: the `--set STAGE.KEY=VALUE` override parser.
//
// Feeds: each line of the input as one command-line override, applied by
// load_config (pipeline/config.cpp: split at the first '.' and '=', the value read
// as TOML, a bare word as a string, pipeline.* keys checked by type) on top of
// the real SOURCE/configs/demo.toml (which includes graphs/train.toml, so every
// data and training stage is there to be overridden), then validate against the
// built-in registry: the typed value meets the stage's parameter spec.
//
// Checks: no crash or sanitizer report; every diagnostic names a file; a
// pipeline that validates with the overrides survives the round trip through its
// resolved form (so an override value the writer cannot print back is found).
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/check.h"
#include "fuzz/round_trip.h"
#include "pipeline/config.h"
#include "pipeline/registry.h"
#include "pipeline/validate.h"
#include "stages/builtin.h"

namespace {

const sluice::Registry& registry() {
  static const sluice::Registry r = [] {
    sluice::Registry reg;
    sluice::register_builtin_stages(reg);
    return reg;
  }();
  return r;
}

const std::string kConfig = std::string(SLUICE_SOURCE_DIR) + "/configs/demo.toml";
constexpr size_t kMaxOverrides = 8;

std::vector<std::string> overrides_from(const uint8_t* data, size_t size) {
  std::vector<std::string> out;
  std::string line;
  for (size_t i = 0; i < size && out.size() < kMaxOverrides; ++i) {
    if (data[i] == '\n') {
      out.push_back(line);
      line.clear();
    } else {
      line += static_cast<char>(data[i]);
    }
  }
  if (!line.empty() && out.size() < kMaxOverrides) out.push_back(line);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> overrides = overrides_from(data, size);
  std::vector<sluice::Diagnostic> errors;
  sluice::GraphConfig config = sluice::load_config(kConfig, overrides, errors);
  const size_t load_errors = errors.size();
  sluice::ValidatedGraph graph = sluice::validate(config, registry(), errors);
  for (const auto& d : errors) {
    sluice::fuzz::check(!d.where.file.empty(), "diagnostic without a file: " + d.message);
  }
  if (errors.empty() && load_errors == 0) {
    sluice::fuzz::check_resolved_round_trip(graph, registry(), kConfig);
  }
  return 0;
}
