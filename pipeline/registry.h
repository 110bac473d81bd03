// Maps registered stage names to their declaration and factory.
//
// Built-in stages and plugins add themselves here; the validator, the graph
// builder and `sluice stages` read from it. Registering a name twice is an
// error that names both origins.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "pipeline/stage.h"

namespace sluice {

using StageFactory = std::function<std::unique_ptr<Stage>(const Params&)>;

struct StageEntry {
  StageSpec spec;
  StageFactory factory;
  std::string origin;  // "built-in" or the plugin's path
};

class DuplicateStageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Registry {
 public:
  // Origin recorded for the stages added after this call.
  void set_origin(std::string origin) { origin_ = std::move(origin); }
  const std::string& origin() const { return origin_; }

  void add(StageSpec spec, StageFactory factory);
  template <class S>
  void add(StageSpec spec) {
    add(std::move(spec), [](const Params& p) { return std::make_unique<S>(p); });
  }

  // An old name of a registered stage, still accepted for one version: validation
  // warns and points to `name`.
  void add_deprecated_alias(const std::string& old_name, const std::string& name);
  // The registered (or aliased) stage; nullptr when neither.
  const StageEntry* find(const std::string& name) const;
  // The current name when `name` is a deprecated alias; empty otherwise.
  std::string renamed_to(const std::string& name) const;
  std::vector<const StageEntry*> entries() const;  // sorted by name
  // Up to `n` registered names closest to `name` (for "did you mean").
  std::vector<std::string> closest(const std::string& name, size_t n = 3) const;

 private:
  std::map<std::string, StageEntry> entries_;
  std::map<std::string, std::string> aliases_;  // old name -> current name
  std::string origin_ = "built-in";
};

}  // namespace sluice
