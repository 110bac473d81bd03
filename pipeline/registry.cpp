#include "pipeline/registry.h"

#include "pipeline/suggest.h"

namespace sluice {

void Registry::add(StageSpec spec, StageFactory factory) {
  auto it = entries_.find(spec.name);
  if (it != entries_.end()) {
    throw DuplicateStageError("stage '" + spec.name + "' is registered twice: by " +
                              it->second.origin + " and by " + origin_);
  }
  if (aliases_.count(spec.name)) {
    throw DuplicateStageError("stage '" + spec.name + "' is taken: it is the old name of '" +
                              aliases_.at(spec.name) + "'");
  }
  std::string name = spec.name;
  entries_.emplace(std::move(name), StageEntry{std::move(spec), std::move(factory), origin_});
}

void Registry::add_deprecated_alias(const std::string& old_name, const std::string& name) {
  if (entries_.count(old_name) || aliases_.count(old_name)) {
    throw DuplicateStageError("stage '" + old_name + "' is registered twice: as an alias of '" +
                              name + "' by " + origin_);
  }
  aliases_[old_name] = name;
}

const StageEntry* Registry::find(const std::string& name) const {
  auto it = entries_.find(name);
  if (it != entries_.end()) return &it->second;
  auto alias = aliases_.find(name);
  return alias == aliases_.end() ? nullptr : find(alias->second);
}

std::string Registry::renamed_to(const std::string& name) const {
  auto alias = aliases_.find(name);
  return alias == aliases_.end() ? std::string() : alias->second;
}

std::vector<const StageEntry*> Registry::entries() const {
  std::vector<const StageEntry*> out;
  for (const auto& [name, entry] : entries_) out.push_back(&entry);
  return out;
}

std::vector<std::string> Registry::closest(const std::string& name, size_t n) const {
  std::vector<std::string> names;
  for (const auto& [key, entry] : entries_) names.push_back(key);
  return closest_names(name, names, n);
}

}  // namespace sluice
