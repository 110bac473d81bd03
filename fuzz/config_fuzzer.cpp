// Fuzz target: the config loader and validator.
//
// Feeds: the input bytes as the TOML text of a config file, through
// load_config_string (syntax, structure, [pipeline] keys, includes) and validate
// against the built-in stage registry (types, ranges, ports, cycles), then
// formats every diagnostic. The text is loaded as if it were
// SOURCE/configs/fuzz-input.toml, so `include = ["../graphs/train.toml"]` in a
// seed reads the real graph files.
//
// Checks: no crash or sanitizer report; every diagnostic names a file; a config
// that validates survives the round trip through its resolved form.
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

const std::string kName = std::string(SLUICE_SOURCE_DIR) + "/configs/fuzz-input.toml";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<sluice::Diagnostic> errors;
  sluice::GraphConfig config = sluice::load_config_string(text, kName, {}, errors);
  const size_t load_errors = errors.size();
  sluice::ValidatedGraph graph = sluice::validate(config, registry(), errors);
  for (const auto& d : errors) {
    sluice::fuzz::check(!d.where.file.empty(), "diagnostic without a file: " + d.message);
    sluice::fuzz::check(!sluice::format_diagnostic(d).empty(), "empty diagnostic");
  }
  if (errors.empty() && load_errors == 0) {
    sluice::fuzz::check_resolved_round_trip(graph, registry(), kName);
  }
  return 0;
}
