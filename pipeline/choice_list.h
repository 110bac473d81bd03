// A string parameter's choices declared once: the names a config may write and
// the value each stands for. The ParamSpec takes the names (validation and
// `sluice stages` list them) and the stage parses with the same table, so the
// two cannot drift apart.
//
//   enum class Mode { kMin, kMax };
//   const sluice::ChoiceList<Mode>& modes() {
//     static const sluice::ChoiceList<Mode> kModes("mode", {{"min", Mode::kMin},
//                                                           {"max", Mode::kMax}});
//     return kModes;
//   }
//   spec.param(ParamSpec::string("mode", "min", "...").one_of(modes().names()));
//   Mode m = modes().parse(params.get_string("mode"));
//
// Several names may stand for one value (an alias); name() gives the first.
#pragma once

#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace sluice {

template <class E>
class ChoiceList {
 public:
  // `what` names the parameter in error messages ("head", "optimizer").
  ChoiceList(std::string what, std::initializer_list<std::pair<const char*, E>> entries)
      : what_(std::move(what)) {
    for (const auto& [name, value] : entries) entries_.emplace_back(name, value);
  }

  // Every accepted name, in declaration order: for ParamSpec::one_of.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& entry : entries_) out.push_back(entry.first);
    return out;
  }

  bool contains(const std::string& name) const { return find(name) != nullptr; }

  // The value of `name`; throws std::invalid_argument listing the names.
  E parse(const std::string& name) const {
    if (const E* value = find(name)) return *value;
    std::string list;
    for (size_t i = 0; i < entries_.size(); ++i) {
      list += (i == 0 ? "" : i + 1 == entries_.size() ? " or " : ", ") + entries_[i].first;
    }
    throw std::invalid_argument("unknown " + what_ + " '" + name + "' (expected " + list + ")");
  }

  // The first name declared for `value` ("?" when none is).
  const std::string& name(E value) const {
    static const std::string kUnknown = "?";
    for (const auto& entry : entries_) {
      if (entry.second == value) return entry.first;
    }
    return kUnknown;
  }

 private:
  const E* find(const std::string& name) const {
    for (const auto& entry : entries_) {
      if (entry.first == name) return &entry.second;
    }
    return nullptr;
  }

  std::string what_;
  std::vector<std::pair<std::string, E>> entries_;
};

}  // namespace sluice
