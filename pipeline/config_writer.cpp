#include "pipeline/config_writer.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <type_traits>
#include <variant>
#include <vector>

#include <toml++/toml.h>

namespace sluice {
namespace {

// The shortest decimal that reads back as the same double, as a TOML float.
std::string toml_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, d);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

// TOML++ prints the rest the way TOML writes it (quoting, escapes).
template <class T>
std::string toml_value(const T& v) {
  if constexpr (std::is_same_v<T, double>) {
    return toml_float(v);
  } else {
    std::ostringstream os;
    os << toml::value<T>(v);
    return os.str();
  }
}

template <class T>
std::string toml_array(const std::vector<T>& v) {
  if (v.empty()) return "[]";
  std::string s = "[ ";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + toml_value(v[i]);
  return s + " ]";
}

std::string format(const ParamValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return "";
        } else if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, int64_t> ||
                             std::is_same_v<T, double> || std::is_same_v<T, std::string>) {
          return toml_value(v);
        } else {
          return toml_array(v);
        }
      },
      value);
}

// A bare key when TOML allows one, else a quoted one.
std::string key(const std::string& k) {
  bool bare = !k.empty();
  for (char c : k) {
    bare = bare && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-');
  }
  return bare ? k : toml_value(k);
}

// The plugin files the pipeline needs: those its config named, then those the
// stages it uses came from (a plugin's stages have its absolute path as origin;
// built-ins and test registries have names), each once.
std::vector<std::string> plugins_needed(const ValidatedGraph& g) {
  std::vector<std::string> out;
  std::vector<std::filesystem::path> seen;
  auto add = [&](const std::string& path) {
    std::error_code ec;
    std::filesystem::path canonical = std::filesystem::weakly_canonical(path, ec);
    if (ec) canonical = path;
    for (const auto& s : seen) {
      if (s == canonical) return;
    }
    seen.push_back(canonical);
    out.push_back(path);
  };
  for (const std::string& p : g.settings.plugins) add(p);
  for (const ValidatedStage& st : g.stages) {
    if (st.entry && std::filesystem::path(st.entry->origin).is_absolute()) add(st.entry->origin);
  }
  return out;
}

}  // namespace

std::string resolved_config_toml(const ValidatedGraph& g) {
  const PipelineSettings& s = g.settings;
  std::ostringstream os;
  os << "# Resolved from " << (g.path.empty() ? std::string("a config") : g.path)
     << ": includes merged, overrides applied, every parameter at its value.\n";
  os << "[pipeline]\n";
  if (!s.name.empty()) os << "name = " << toml_value(s.name) << '\n';
  if (!s.description.empty()) os << "description = " << toml_value(s.description) << '\n';
  os << "threads = " << s.threads << '\n';
  if (s.max_in_flight > 0) os << "max_in_flight = " << s.max_in_flight << '\n';
  os << "seed = " << s.seed << '\n';
  os << "chain = " << (s.chain ? "true" : "false") << '\n';
  if (!s.output.empty()) os << "output = " << toml_value(s.output) << '\n';
  const std::vector<std::string> plugins = plugins_needed(g);
  if (!plugins.empty()) os << "plugins = " << toml_array(plugins) << '\n';
  for (const ValidatedStage& st : g.stages) {
    os << "\n[stages." << key(st.id) << "]\n";
    os << "use = " << toml_value(st.entry->spec.name) << '\n';
    if (st.inputs.size() == 1) {
      os << "input = " << toml_value(g.stages[st.inputs[0]].id) << '\n';
    } else if (!st.inputs.empty()) {
      std::vector<std::string> ids;
      for (size_t i : st.inputs) ids.push_back(g.stages[i].id);
      os << "input = " << toml_array(ids) << '\n';
    }
    if (st.entry->spec.kind != StageKind::kSource) {
      const Concurrency& c = st.concurrency;
      os << "concurrency = " << (c.limit > 1 ? std::to_string(c.limit) : toml_value(c.to_string()))
         << '\n';
    }
    for (const auto& [name, value] : st.params.values()) {
      if (std::holds_alternative<std::monostate>(value)) continue;  // optional, unset
      os << key(name) << " = " << format(value) << '\n';
    }
  }
  return os.str();
}

std::string with_overwrite_off(const std::string& config_toml, const std::string& stage_id,
                               const std::string& why) {
  // One `[stages.ID]` header per stage, `key = value` lines under it.
  std::istringstream in(config_toml);
  std::ostringstream out;
  bool in_stage = false;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] == '[') {
      in_stage = line == "[stages." + stage_id + "]" || line == "[stages.\"" + stage_id + "\"]";
    } else if (in_stage && line == "overwrite = true") {
      line = "overwrite = false  # recorded: " + why;
    }
    out << line << '\n';
  }
  return out.str();
}

}  // namespace sluice
