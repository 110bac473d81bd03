// The property both config harnesses check on a graph that validated: its
// resolved form (resolved_config_toml) loads and validates without errors, and
// resolving it again gives the same text ("loading it gives the same graph").
#pragma once

#include <string>
#include <vector>

#include "fuzz/check.h"
#include "pipeline/config.h"
#include "pipeline/config_writer.h"
#include "pipeline/validate.h"

namespace sluice::fuzz {

inline std::string joined(const std::vector<Diagnostic>& errors) {
  std::string out;
  for (const auto& d : errors) out += format_diagnostic(d) + "\n";
  return out;
}

inline void check_resolved_round_trip(const ValidatedGraph& graph, const Registry& registry,
                                      const std::string& name) {
  const std::string first = resolved_config_toml(graph);
  std::vector<Diagnostic> errors;
  GraphConfig again = load_config_string(first, name, {}, errors);
  ValidatedGraph graph2 = validate(again, registry, errors);
  check(errors.empty(), "the resolved config does not load back:\n" + joined(errors) +
                            "--- resolved config:\n" + first);
  const std::string second = resolved_config_toml(graph2);
  // The comment line names the path, which is the same; everything else must match.
  check(second == first, "resolving the resolved config changes it:\n--- first:\n" + first +
                             "--- second:\n" + second);
}

}  // namespace sluice::fuzz
