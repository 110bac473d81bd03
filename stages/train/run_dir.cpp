#include "stages/train/run_dir.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "pipeline/atomic_file.h"
#include "pipeline/config_writer.h"

namespace sluice::train {
namespace fs = std::filesystem;

const std::vector<std::string>& run_file_names() {
  static const std::vector<std::string> kNames = {"best.pt",       "last.pt",     "metrics.csv",
                                                  "metrics.jsonl", "config.toml", "profile.json"};
  return kNames;
}

bool is_run_file(const std::string& file_name) {
  for (const auto& name : run_file_names()) {
    if (file_name == name || is_atomic_temporary(file_name, name)) return true;
  }
  return false;
}

std::vector<std::string> remove_stale_temporaries(const std::string& dir) {
  std::vector<std::string> removed;
  for (const std::string& name : folder_entries(dir)) {
    if (name.find(".tmp.") == std::string::npos || !is_run_file(name)) continue;
    std::error_code ec;
    if (fs::remove(fs::path(dir) / name, ec)) removed.push_back(name);
  }
  return removed;
}

std::vector<std::string> folder_entries(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return names;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

namespace {

std::string listing(const std::vector<std::string>& names) {
  constexpr size_t kShown = 6;
  std::string s;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > kShown) s += " and " + std::to_string(names.size() - kShown) + " more";
  return s;
}

bool same_folder(const std::string& a, const std::string& b) {
  std::error_code ec;
  const fs::path pa = fs::weakly_canonical(fs::absolute(a, ec), ec);
  const fs::path pb = fs::weakly_canonical(fs::absolute(b, ec), ec);
  return !ec && pa == pb;
}

// "runs/x" -> "runs/x-2" (or -3, ... the first that does not exist).
std::string fresh_folder_like(const std::string& dir) {
  std::string base = dir;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  for (int i = 2; i < 1000; ++i) {
    const std::string candidate = base + "-" + std::to_string(i);
    std::error_code ec;
    if (!fs::exists(candidate, ec)) return candidate;
  }
  return base + "-new";
}

}  // namespace

std::string output_dir_conflict(const RunDirRequest& r) {
  const std::vector<std::string> entries = folder_entries(r.output_dir);
  if (entries.empty() || r.overwrite) return {};
  if (!r.resume.empty() && same_folder(fs::path(r.resume).parent_path().string(), r.output_dir)) {
    return {};  // continuing the run that is there
  }
  const bool holds_run = std::any_of(entries.begin(), entries.end(), [](const std::string& n) {
    return is_run_file(n) || n == "invocations";  // the folder's history (pipeline/invocation.h)
  });
  std::ostringstream os;
  os << "output_dir '" << r.output_dir << "' "
     << (holds_run ? "already holds a run (" : "is not empty (") << listing(entries) << ")";
  if (!r.resume.empty()) os << " and resume = '" << r.resume << "' continues another folder's run";
  os << "; a run never writes over another: ";
  const std::string id = r.stage_id;
  const bool has_last = std::find(entries.begin(), entries.end(), "last.pt") != entries.end();
  if (has_last) {
    const std::string last = (fs::path(r.output_dir) / "last.pt").string();
    os << "continue it with resume = \"" << last << "\" (--set " << id << ".resume=" << last
       << "), ";
  }
  os << "replace it with overwrite = true (--set " << id
     << ".overwrite=true; removes only the files a run writes), or pick a new folder (--set " << id
     << ".output_dir=" << fresh_folder_like(r.output_dir) << ")";
  return os.str();
}

std::vector<std::string> remove_run_files(const std::string& dir) {
  std::vector<std::string> removed;
  for (const auto& name : folder_entries(dir)) {
    if (!is_run_file(name)) continue;
    const fs::path path = fs::path(dir) / name;
    std::error_code ec;
    // A symlink planted at a run file's name is removed (the link, not its target).
    const fs::file_status st = fs::symlink_status(path, ec);
    if (!fs::is_regular_file(st) && !fs::is_symlink(st)) continue;
    fs::remove(path, ec);
    if (ec) throw fs::filesystem_error("overwrite: cannot remove", path, ec);
    removed.push_back(name);
  }
  return removed;
}

std::string recorded_config(const std::string& config_toml, const std::string& stage_id) {
  std::error_code ec;
  const fs::path cwd = fs::current_path(ec);
  const std::string where = ec ? std::string() : kWorkingDirectoryComment + cwd.string() + "\n";
  return where + with_overwrite_off(config_toml, stage_id, "rerunning must not empty this run");
}

}  // namespace sluice::train
