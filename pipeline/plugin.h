// Loads stage plugins: shared libraries exporting the entry point of
// pipeline/plugin_api.h. A plugin is refused with a PluginError, never a crash,
// when the file is not a shared library, has no entry point, was built for
// another SDK version, or registers a stage name that is already taken.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "pipeline/registry.h"

namespace sluice {

// Colon-separated directories searched for plugins (every *.so in them).
inline constexpr const char* kPluginPathEnv = "SLUICE_PLUGIN_PATH";

class PluginError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LoadedPlugin {
  std::string path;                 // canonical path: the registry origin of its stages
  std::string name;                 // as declared by SLUICE_PLUGIN
  std::vector<std::string> stages;  // stage names it registered, sorted
  bool already_loaded = false;      // the same file was loaded into `registry` before
};

// Loads the plugin at `path` and adds its stages to `registry` with the
// plugin's canonical path as their origin: all of them, or none (then throws
// PluginError). Loading the same file twice into one registry is a no-op.
// A loaded library stays mapped for the life of the process.
LoadedPlugin load_plugin(const std::string& path, Registry& registry);

// The *.so files of each directory of a colon-separated search path, sorted
// by name within a directory, directories in order. Missing directories and
// empty entries are skipped.
std::vector<std::string> plugin_files_in(const std::string& search_path);

}  // namespace sluice
