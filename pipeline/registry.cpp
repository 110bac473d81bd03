#include "pipeline/registry.h"

#include "pipeline/suggest.h"

namespace sluice {

void Registry::add(StageSpec spec, StageFactory factory) {
  auto it = entries_.find(spec.name);
  if (it != entries_.end()) {
    throw DuplicateStageError("stage '" + spec.name + "' is registered twice: by " +
                              it->second.origin + " and by " + origin_);
  }
  std::string name = spec.name;
  entries_.emplace(std::move(name), StageEntry{std::move(spec), std::move(factory), origin_});
}

const StageEntry* Registry::find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
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
