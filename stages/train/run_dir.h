// A training run's folder (train.vgg's output_dir) and the rule that keeps runs
// from overwriting each other: a fresh run goes into an empty (or new) folder;
// a folder that already has files is taken only to continue the run in it
// (resume = a checkpoint there) or, with overwrite = true, after the files a run
// writes (best.pt, last.pt, metrics.csv, metrics.jsonl, config.toml, profile.json and leftover
// temporaries of their atomic writes) were removed. Anything else in the folder,
// the records of earlier invocations (invocations/, pipeline/invocation.h)
// included, is never touched.
#pragma once

#include <string>
#include <vector>

namespace sluice::train {

// "best.pt", "last.pt", "metrics.csv", "metrics.jsonl", "config.toml", "profile.json"
// (written by `sluice run` when the run ends).
const std::vector<std::string>& run_file_names();
// One of run_file_names(), or the temporary of an atomic write of one
// ("last.pt.tmp.Ab12Cd").
bool is_run_file(const std::string& file_name);

// The names of the entries of `dir`, sorted; none when it does not exist.
std::vector<std::string> folder_entries(const std::string& dir);

// What a run may do with `output_dir`, as train.vgg's parameters say.
struct RunDirRequest {
  std::string stage_id;    // for the --set hints: "train"
  std::string output_dir;  // as written in the config
  std::string resume;      // checkpoint to continue from; empty for a fresh run
  bool overwrite = false;
};

// Why the run must not write into its output_dir (naming what is there and the
// ways out), or an empty string when it may.
std::string output_dir_conflict(const RunDirRequest& request);

// overwrite = true: removes the run files of `dir` (and nothing else); returns
// their names.
std::vector<std::string> remove_run_files(const std::string& dir);

// Removes the temporaries that an atomic write killed in its last instant (between
// naming the finished file and renaming it over the target) left in `dir`; the
// target itself is whole. Returns their names.
std::vector<std::string> remove_stale_temporaries(const std::string& dir);

// The resolved config as a run records it (OUTPUT_DIR/config.toml, checkpoints):
// `overwrite = true` of stage `stage_id` becomes false, so that running the
// recorded file never empties the run it came from, and a first line
// `# Working directory: DIR` names the folder its relative paths are relative to
// (`sluice report` resolves them there).
std::string recorded_config(const std::string& config_toml, const std::string& stage_id);
inline const std::string kWorkingDirectoryComment = "# Working directory: ";

}  // namespace sluice::train
