// A run folder is a history: a stage that keeps a run in a folder (train.vgg's
// output_dir) records there every invocation that takes the folder, fresh, resumed,
// overwritten or resumed with nothing left to do, in a folder of its own that no
// later invocation writes to:
//   OUTPUT_DIR/invocations/001/invocation.json  command line, working directory,
//                                               start and end time, sluice version,
//                                               what it did, how it ended
//   OUTPUT_DIR/invocations/001/config.toml      the resolved config it ran
//   OUTPUT_DIR/invocations/001/profile.json     its per-stage profile
// The folder's top-level config.toml and profile.json stay those of the latest
// invocation that trained (a resume with nothing to do leaves them as they were).
#pragma once

#include <string>
#include <vector>

#include "pipeline/profiler.h"

namespace sluice {

// What started this process, set by the command line before it runs a pipeline
// (the Python module leaves the command empty). The start time is taken here.
void set_invocation_command(const std::vector<std::string>& command, const std::string& version);

// Records this invocation in `run_dir` (which the caller has claimed): creates
// RUN_DIR/invocations/NNN, NNN the next free number, with invocation.json and
// config.toml. `what`: "fresh", "resume", "overwrite" or "nothing to do". `trains`:
// whether this invocation's profile becomes the folder's profile.json. Returns the
// record's folder; throws std::runtime_error naming the path it could not write.
std::string start_invocation_record(const std::string& run_dir, const std::string& what,
                                    const std::string& config_toml, bool trains);

// When the run has ended: adds its status, end time and wall time (and error) to
// every record this process started, writes its profile beside each, and as
// RUN_DIR/profile.json where it trained. Returns false, after saying why on stderr,
// when a file could not be written. The records are then forgotten.
bool finish_invocation_records(const RunReport& report);

// The record folders of `run_dir`, oldest first.
std::vector<std::string> invocation_records(const std::string& run_dir);

}  // namespace sluice
