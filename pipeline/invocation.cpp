#include "pipeline/invocation.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "pipeline/atomic_file.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

constexpr const char* kRecordsFolder = "invocations";

// "2026-12-07T23:40:12Z"
std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

struct Record {
  std::string folder;
  std::string run_dir;
  bool trains = false;
  Json json;
};

struct State {
  std::mutex mutex;
  std::vector<std::string> command;
  std::string version;
  std::string started;
  std::vector<Record> records;
};

State& state() {
  static State s;
  return s;
}

// Writes `text` to `path` through a fresh temporary beside it (never through a
// planted link), so that a reader never sees half a file.
void write_text(const fs::path& path, const std::string& text) {
  write_file_atomically(path.string(), text);
}

// The number of a record folder ("007" -> 7), or 0 when the name is not one.
int record_number(const std::string& name) {
  if (name.empty() || name.size() > 9) return 0;
  if (!std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return 0;
  }
  return std::stoi(name);
}

// Creates the next record folder; several processes may race for a number, the
// one whose mkdir succeeds has it.
fs::path create_record_folder(const fs::path& run_dir, int& number) {
  const fs::path records = run_dir / kRecordsFolder;
  std::error_code ec;
  fs::create_directories(records, ec);
  if (ec) throw std::runtime_error("cannot create '" + records.string() + "': " + ec.message());
  int last = 0;
  for (const auto& entry : fs::directory_iterator(records, ec)) {
    last = std::max(last, record_number(entry.path().filename().string()));
  }
  for (number = last + 1;; ++number) {
    char name[16];
    std::snprintf(name, sizeof name, "%03d", number);
    const fs::path folder = records / name;
    if (fs::create_directory(folder, ec)) return folder;
    if (ec) throw std::runtime_error("cannot create '" + folder.string() + "': " + ec.message());
  }
}

}  // namespace

void set_invocation_command(const std::vector<std::string>& command, const std::string& version) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.command = command;
  s.version = version;
  s.started = utc_now();
}

std::string start_invocation_record(const std::string& run_dir, const std::string& what,
                                    const std::string& config_toml, bool trains) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  int number = 0;
  const fs::path folder = create_record_folder(run_dir, number);
  std::error_code ec;
  const fs::path cwd = fs::current_path(ec);
  Record r;
  r.folder = folder.string();
  r.run_dir = run_dir;
  r.trains = trains;
  r.json["invocation"] = number;
  r.json["what"] = what;
  r.json["command"] = s.command;
  r.json["working_directory"] = cwd.string();
  r.json["started"] = s.started.empty() ? utc_now() : s.started;
  r.json["version"] = s.version;
  write_text(folder / "config.toml", config_toml);
  write_text(folder / "invocation.json", r.json.dump(2) + "\n");
  s.records.push_back(std::move(r));
  return folder.string();
}

bool finish_invocation_records(const RunReport& report) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  bool ok = true;
  for (Record& r : s.records) {
    r.json["finished"] = utc_now();
    r.json["status"] = run_status_name(report.status);
    r.json["wall_s"] = report.wall_s;  // the run's, as its profile says
    if (!report.error.empty()) r.json["error"] = report.error;
    try {
      write_profile_json((fs::path(r.folder) / "profile.json").string(), report);
      write_text(fs::path(r.folder) / "invocation.json", r.json.dump(2) + "\n");
      if (r.trains) write_profile_json((fs::path(r.run_dir) / "profile.json").string(), report);
    } catch (const std::exception& e) {
      std::cerr << "sluice: error: " << e.what() << '\n';
      ok = false;
    }
  }
  s.records.clear();
  return ok;
}

std::vector<std::string> invocation_records(const std::string& run_dir) {
  std::vector<std::pair<int, std::string>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::path(run_dir) / kRecordsFolder, ec)) {
    const int n = record_number(entry.path().filename().string());
    if (n > 0 && entry.is_directory(ec)) found.emplace_back(n, entry.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

}  // namespace sluice
