// A training run's folder keeps the profile of the run that wrote it
// (OUTPUT_DIR/profile.json), so that `sluice report` can show where time went.
#pragma once

#include "pipeline/runner.h"

namespace sluice::cli {

// Writes the profile JSON into the output_dir of every stage whose output_dir holds a
// run (config.toml); returns false, after saying why on stderr, when one could not be
// written.
bool save_profile_in_run_dirs(const ValidatedGraph& graph, const RunReport& report);

}  // namespace sluice::cli
