#include "tools/sluice/run_profile.h"

#include <filesystem>
#include <iostream>

#include <spdlog/spdlog.h>

#include "pipeline/profiler.h"

namespace sluice::cli {

bool save_profile_in_run_dirs(const ValidatedGraph& graph, const RunReport& report) {
  namespace fs = std::filesystem;
  bool ok = true;
  for (const auto& stage : graph.stages) {
    const auto* spec = stage.entry ? stage.entry->spec.find_param("output_dir") : nullptr;
    if (!spec || spec->type != ParamType::kString || !stage.params.has("output_dir")) continue;
    const fs::path dir = stage.params.get_string("output_dir");
    std::error_code ec;
    if (!fs::is_regular_file(dir / "config.toml", ec)) continue;
    const std::string path = (dir / "profile.json").string();
    try {
      write_profile_json(path, report);
      spdlog::debug("profile written to {}", path);
    } catch (const std::exception& e) {
      std::cerr << "sluice: error: " << e.what() << '\n';
      ok = false;
    }
  }
  return ok;
}

}  // namespace sluice::cli
