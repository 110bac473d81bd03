// The resolved form of a validated pipeline as TOML: one self-contained file
// with the includes merged, every --set override applied and every parameter
// at its effective value (defaults filled in), and `plugins` listing every plugin
// file whose stages it uses, however it was loaded (the config, --plugin,
// SLUICE_PLUGIN_PATH), by its absolute path. Loading it gives the same graph.
// `sluice check CONFIG --print` prints it; a run hands it to its stages
// (StageContext::run_config), and train.vgg stores it with its checkpoints.
#pragma once

#include <string>

#include "pipeline/validate.h"

namespace sluice {

std::string resolved_config_toml(const ValidatedGraph& graph);

// `config_toml` (as resolved_config_toml writes it) with `overwrite = true` of stage
// `stage_id` turned into `overwrite = false  # recorded: WHY`, so that running the
// recorded copy of a run's config never removes what the run wrote.
std::string with_overwrite_off(const std::string& config_toml, const std::string& stage_id,
                               const std::string& why);

}  // namespace sluice
