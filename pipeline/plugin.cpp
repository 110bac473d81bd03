#include "pipeline/plugin.h"

#include <dlfcn.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "pipeline/plugin_api.h"

namespace sluice {
namespace fs = std::filesystem;

namespace {

// dlopen/dlerror are process-wide; serialise our use of them.
std::mutex& loader_mutex() {
  static std::mutex m;
  return m;
}

std::string last_dl_error() {
  const char* e = dlerror();
  return e ? e : "unknown error";
}

bool has_elf_magic(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {0, 0, 0, 0};
  in.read(magic, 4);
  return in.gcount() == 4 && magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' &&
         magic[3] == 'F';
}

// A protocol other than v1 (a future sluice), for a better message.
std::string other_entry_point(void* handle) {
  for (int v = 2; v <= 9; ++v) {
    std::string sym = "sluice_plugin_entry_v" + std::to_string(v);
    if (dlsym(handle, sym.c_str())) return sym;
  }
  return {};
}

struct Refusal {
  std::string path;
  [[noreturn]] void operator()(const std::string& why) const {
    throw PluginError("cannot load plugin '" + path + "': " + why);
  }
};

}  // namespace

LoadedPlugin load_plugin(const std::string& path, Registry& registry) {
  Refusal refuse{path};
  std::error_code ec;
  if (!fs::exists(path, ec)) refuse("no such file");
  if (!fs::is_regular_file(path, ec)) refuse("not a regular file");
  const std::string canonical = fs::weakly_canonical(path, ec).string();
  refuse.path = canonical.empty() ? path : canonical;

  std::lock_guard<std::mutex> lock(loader_mutex());
  dlerror();
  void* handle = dlopen(refuse.path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    std::string err = last_dl_error();
    if (!has_elf_magic(refuse.path)) refuse("not a shared library (dlopen: " + err + ")");
    // An unresolved symbol may come from a plugin built for another SDK: bind
    // lazily just to read its version, so that the message says so.
    if (void* lazy = dlopen(refuse.path.c_str(), RTLD_LAZY | RTLD_LOCAL)) {
      uint32_t version = kSdkVersion;
      std::string name = "?";
      if (void* sym = dlsym(lazy, SLUICE_PLUGIN_ENTRY_NAME)) {
        if (const PluginInfo* info = reinterpret_cast<SluicePluginEntry>(sym)()) {
          version = info->sdk_version;
          if (info->name) name = info->name;
        }
      }
      dlclose(lazy);  // `info` points into the library: read before this
      if (version != kSdkVersion) {
        refuse("plugin '" + name + "' was built for sluice SDK version " + std::to_string(version) +
               ", this sluice has SDK version " + std::to_string(kSdkVersion) +
               "; rebuild it against this sluice (dlopen: " + err + ")");
      }
    }
    refuse("dlopen failed: " + err);
  }
  // Until its stages are in the registry nothing refers to the library's code.
  auto close_and_refuse = [&](const std::string& why) {
    dlclose(handle);
    refuse(why);
  };

  dlerror();
  void* sym = dlsym(handle, SLUICE_PLUGIN_ENTRY_NAME);
  if (!sym) {
    std::string other = other_entry_point(handle);
    if (!other.empty()) {
      close_and_refuse("it exports " + other + ", a newer plugin protocol; this sluice reads " +
                       SLUICE_PLUGIN_ENTRY_NAME + " (SDK version " + std::to_string(kSdkVersion) +
                       ")");
    }
    close_and_refuse(std::string("not a sluice plugin: no entry point ") +
                     SLUICE_PLUGIN_ENTRY_NAME + " (define one with SLUICE_PLUGIN, " +
                     "pipeline/plugin_api.h)");
  }
  auto entry = reinterpret_cast<SluicePluginEntry>(sym);
  const PluginInfo* info = entry();
  if (!info) close_and_refuse(std::string(SLUICE_PLUGIN_ENTRY_NAME) + " returned null");
  const std::string name = info->name ? info->name : "?";
  if (info->sdk_version != kSdkVersion) {
    close_and_refuse("plugin '" + name + "' was built for sluice SDK version " +
                     std::to_string(info->sdk_version) + ", this sluice has SDK version " +
                     std::to_string(kSdkVersion) + "; rebuild it against this sluice");
  }
  if (info->layout != sdk_layout_fingerprint()) {
    close_and_refuse("plugin '" + name + "' (SDK version " + std::to_string(kSdkVersion) +
                     ") sees different sizes of the SDK types than this sluice: built with " +
                     "other compiler settings (e.g. _GLIBCXX_USE_CXX11_ABI) or against " +
                     "modified headers; rebuild it against this sluice");
  }
  if (!info->register_stages) close_and_refuse("plugin '" + name + "' has no register function");

  // Register into a scratch registry first, so that a refused plugin adds nothing.
  // From here on the library stays mapped even when refused: its code ran, and
  // objects it made (loggers, statics) may outlive this call.
  LoadedPlugin loaded;
  loaded.path = refuse.path;
  loaded.name = name;
  std::vector<StageEntry> staged;
  {
    Registry scratch;
    scratch.set_origin(loaded.path);
    try {
      info->register_stages(scratch);
    } catch (const std::exception& e) {
      refuse("plugin '" + name + "' failed to register its stages: " + e.what());
    } catch (...) {
      refuse("plugin '" + name + "' failed to register its stages (unknown exception)");
    }
    for (const StageEntry* e : scratch.entries()) staged.push_back(*e);
  }
  for (const StageEntry& e : staged) loaded.stages.push_back(e.spec.name);

  size_t ours = 0;
  for (const StageEntry& e : staged) {
    const StageEntry* existing = registry.find(e.spec.name);
    if (!existing) continue;
    if (existing->origin == loaded.path) {
      ++ours;
      continue;
    }
    refuse("stage '" + e.spec.name + "' is registered twice: by " + existing->origin + " and by " +
           loaded.path);
  }
  if (ours > 0 && ours == staged.size()) {
    loaded.already_loaded = true;
    return loaded;
  }
  if (ours > 0) refuse("some of its stages were registered before from the same file");

  const std::string previous_origin = registry.origin();
  registry.set_origin(loaded.path);
  for (StageEntry& e : staged) registry.add(std::move(e.spec), std::move(e.factory));
  registry.set_origin(previous_origin);
  return loaded;
}

std::vector<std::string> plugin_files_in(const std::string& search_path) {
  std::vector<std::string> files;
  size_t start = 0;
  while (start <= search_path.size()) {
    size_t end = search_path.find(':', start);
    if (end == std::string::npos) end = search_path.size();
    const std::string dir = search_path.substr(start, end - start);
    start = end + 1;
    std::error_code ec;
    if (dir.empty() || !fs::is_directory(dir, ec)) continue;
    std::vector<std::string> here;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".so" && entry.is_regular_file(ec)) {
        here.push_back(entry.path().string());
      }
    }
    std::sort(here.begin(), here.end());
    files.insert(files.end(), here.begin(), here.end());
  }
  return files;
}

}  // namespace sluice
