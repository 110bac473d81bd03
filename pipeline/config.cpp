#include "pipeline/config.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <set>
#include <unordered_map>

#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include "pipeline/file_read.h"
#include "pipeline/suggest.h"

namespace fs = std::filesystem;

namespace sluice {

StageDecl* GraphConfig::find(const std::string& id) {
  for (auto& s : stages) {
    if (s.id == id) return &s;
  }
  return nullptr;
}
const StageDecl* GraphConfig::find(const std::string& id) const {
  return const_cast<GraphConfig*>(this)->find(id);
}

namespace {

const std::vector<std::string> kPipelineKeys = {"name",    "description",   "include",
                                                "threads", "max_in_flight", "seed",
                                                "plugins", "chain",         "output"};
const std::vector<std::string> kTopLevelKeys = {"pipeline", "stages"};

SourceLocation location(const toml::source_region& src, const std::string& fallback_file) {
  SourceLocation loc;
  loc.file = src.path ? std::string(*src.path) : fallback_file;
  loc.line = static_cast<int>(src.begin.line);
  loc.column = static_cast<int>(src.begin.column);
  return loc;
}

std::string toml_type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "table";
    case toml::node_type::array:
      return "array";
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "bool";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    default:
      return "unknown";
  }
}

ParamValue to_param_value(const toml::node& node, std::string& type_name) {
  type_name = toml_type_name(node);
  if (auto v = node.value_exact<bool>()) return *v;
  if (auto v = node.value_exact<int64_t>()) return *v;
  if (auto v = node.value_exact<double>()) return *v;
  if (auto v = node.value_exact<std::string>()) return *v;
  if (const toml::array* arr = node.as_array()) {
    bool all_int = true, all_num = true, all_str = true;
    for (const auto& el : *arr) {
      all_int = all_int && el.is_integer();
      all_num = all_num && el.is_number();
      all_str = all_str && el.is_string();
    }
    if (arr->empty()) {
      type_name = "empty array";
      return std::vector<std::string>{};
    }
    if (all_int) {
      std::vector<int64_t> out;
      for (const auto& el : *arr) out.push_back(*el.value<int64_t>());
      type_name = "array of integers";
      return out;
    }
    if (all_num) {
      std::vector<double> out;
      for (const auto& el : *arr) out.push_back(*el.value<double>());
      type_name = "array of floats";
      return out;
    }
    if (all_str) {
      std::vector<std::string> out;
      for (const auto& el : *arr) out.push_back(*el.value<std::string>());
      type_name = "array of strings";
      return out;
    }
    type_name = "mixed array";
  }
  return std::monostate{};
}

// Well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF):
// what a TOML string can hold, so what a --set value may be.
bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // the sequence runs past the end
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

ConfigValue make_value(const toml::node& node, SourceLocation key_where, const std::string& file) {
  ConfigValue cv;
  cv.value = to_param_value(node, cv.toml_type);
  cv.key_where = std::move(key_where);
  cv.value_where = location(node.source(), file);
  if (cv.value_where.line == 0) cv.value_where = cv.key_where;
  return cv;
}

class Loader {
 public:
  Loader(GraphConfig& config, std::vector<Diagnostic>& errors) : config_(config), errors_(errors) {}

  void load_file(const std::string& path, const SourceLocation& included_from) {
    std::string canonical = path;
    std::error_code ec;
    if (fs::exists(path, ec)) canonical = fs::weakly_canonical(path, ec).string();
    if (std::find(stack_.begin(), stack_.end(), canonical) != stack_.end()) {
      error(included_from, "include cycle: '" + path + "' includes itself");
      return;
    }
    // Read here, not by toml::parse_file: a FIFO or device is refused, not read.
    std::string text;
    const FileReadResult read = try_read_regular_file(path, kMaxConfigBytes, "config file", text);
    if (!read.ok()) {
      const bool missing = read.status == FileReadStatus::kCannotOpen && !fs::exists(path, ec);
      if (included_from.file.empty()) {
        error({path, 0, 0}, "cannot read config: " + (missing ? "no such file" : read.reason));
      } else {
        error(included_from, "included file '" + path + "' " +
                                 (missing ? "does not exist" : "cannot be read: " + read.reason));
      }
      return;
    }
    toml::table root;
    try {
      root = toml::parse(text, path);
    } catch (const toml::parse_error& e) {
      error(location(e.source(), path), std::string(e.description()));
      return;
    }
    if (!included_from.file.empty()) config_.included_from.emplace(path, included_from);
    stack_.push_back(canonical);
    load_table(root, path);
    stack_.pop_back();
    config_.files.push_back(path);
  }

  void load_text(const std::string& text, const std::string& name) {
    toml::table root;
    try {
      root = toml::parse(text, name);
    } catch (const toml::parse_error& e) {
      error(location(e.source(), name), std::string(e.description()));
      return;
    }
    load_table(root, name);
    config_.files.push_back(name);
  }

  void apply_override(const std::string& text) {
    SourceLocation where{"--set " + text, 1, 1};
    size_t eq = text.find('=');
    size_t dot = text.find('.');
    if (eq == std::string::npos || dot == std::string::npos || dot > eq || dot == 0 ||
        dot + 1 == eq) {
      error(where, "expected STAGE.KEY=VALUE (e.g. decode.policy=fail or pipeline.seed=7)");
      return;
    }
    std::string stage = text.substr(0, dot);
    std::string key = text.substr(dot + 1, eq - dot - 1);
    std::string raw = text.substr(eq + 1);
    SourceLocation key_where{where.file, 1, static_cast<int>(dot + 2)};
    SourceLocation value_where{where.file, 1, static_cast<int>(eq + 2)};

    // The value is TOML (3, 0.5, true, "s", [1, 2]); a bare word is a string.
    toml::table parsed;
    try {
      parsed = toml::parse("v = " + raw);
    } catch (const toml::parse_error&) {
      // TOML strings are UTF-8: a value that is not could not be written back to
      // the resolved config (or would come back as other text).
      if (!valid_utf8(raw)) {
        error(value_where, "the value is not valid UTF-8 text");
        return;
      }
      parsed = toml::table{{"v", raw}};
    }
    ConfigValue cv = make_value(*parsed.get("v"), key_where, where.file);
    cv.value_where = value_where;

    if (stage == "pipeline") {
      set_pipeline_key(key, *parsed.get("v"), key_where, value_where, fs::current_path().string());
      return;
    }
    StageDecl* decl = find_stage(stage);
    if (!decl) {
      std::vector<std::string> ids;
      for (const auto& s : config_.stages) ids.push_back(s.id);
      error({where.file, 1, 1},
            "no stage '" + stage + "' in this pipeline" + did_you_mean(closest_names(stage, ids)));
      return;
    }
    assign(*decl, key, cv, *parsed.get("v"), where.file);
  }

 private:
  void error(SourceLocation where, std::string message) {
    errors_.push_back({std::move(where), std::move(message)});
  }

  // By id in constant time: a config may declare very many stages.
  StageDecl* find_stage(const std::string& id) {
    auto it = stage_index_.find(id);
    return it == stage_index_.end() ? nullptr : &config_.stages[it->second];
  }

  void load_table(const toml::table& root, const std::string& path) {
    // The [pipeline] table first: its includes come before this file's stages.
    for (auto&& [key, node] : root) {
      std::string k(key.str());
      SourceLocation kw = location(key.source(), path);
      if (k == "pipeline") {
        if (const toml::table* t = node.as_table()) {
          load_pipeline(*t, path);
        } else {
          error(kw, "'pipeline' must be a table");
        }
      } else if (k != "stages") {
        error(kw, "unknown top-level key '" + k + "'" +
                      did_you_mean(closest_names(k, kTopLevelKeys)) +
                      " (stages go under [stages.ID], run options under [pipeline])");
      }
    }
    const toml::node* stages = root.get("stages");
    if (!stages) return;
    const toml::table* st = stages->as_table();
    if (!st) {
      error(location(stages->source(), path), "'stages' must be a table of [stages.ID] tables");
      return;
    }
    // Definition order is source order (TOML tables iterate sorted by key).
    std::vector<std::pair<const toml::key*, const toml::node*>> ordered;
    for (auto&& [key, node] : *st) ordered.emplace_back(&key, &node);
    std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
      return a.second->source().begin < b.second->source().begin;
    });
    for (const auto& [key, node] : ordered) {
      std::string id(key->str());
      SourceLocation kw = location(key->source(), path);
      const toml::table* t = node->as_table();
      if (!t) {
        error(kw, "stage '" + id + "' must be a table ([stages." + id + "])");
        continue;
      }
      StageDecl* decl = find_stage(id);
      if (!decl) {
        stage_index_.emplace(id, config_.stages.size());
        config_.stages.push_back(StageDecl{});
        decl = &config_.stages.back();
        decl->id = id;
        decl->where = location(t->source(), path);
        if (decl->where.line == 0) decl->where = kw;
      }
      // `use` first (TOML tables iterate sorted by key): a new type drops the
      // parameters set before, not the ones this table sets.
      if (const toml::node* use = t->get("use")) {
        SourceLocation uw = location(t->find("use")->first.source(), path);
        assign(*decl, "use", make_value(*use, uw, path), *use, path);
      }
      for (auto&& [pkey, pnode] : *t) {
        if (pkey.str() == "use") continue;
        SourceLocation pw = location(pkey.source(), path);
        assign(*decl, std::string(pkey.str()), make_value(pnode, pw, path), pnode, path);
      }
    }
  }

  void assign(StageDecl& decl, const std::string& key, const ConfigValue& cv,
              const toml::node& node, const std::string& path) {
    (void)path;
    if (const toml::table* t = node.as_table(); t && t->empty()) {
      unset(decl, key, cv);
    } else if (key == "use") {
      change_use(decl, cv);
    } else if (key == "input") {
      decl.inputs.clear();
      if (auto s = node.value_exact<std::string>()) {
        decl.inputs.emplace_back(*s, cv.value_where);
      } else if (const toml::array* arr = node.as_array()) {
        for (const auto& el : *arr) {
          SourceLocation ew = location(el.source(), cv.value_where.file);
          if (ew.line == 0) ew = cv.value_where;
          if (auto s2 = el.value_exact<std::string>()) {
            decl.inputs.emplace_back(*s2, ew);
          } else {
            error(ew, "stage '" + decl.id + "': 'input' entries must be stage ids (strings)");
          }
        }
      } else {
        error(cv.value_where, "stage '" + decl.id +
                                  "': 'input' must be a stage id or a list of stage ids, not " +
                                  cv.toml_type);
      }
    } else if (key == "concurrency") {
      decl.concurrency = cv;
    } else {
      decl.params[key] = cv;
    }
  }

  // `use` set again: another type starts from its own defaults, so the
  // parameters set for the old one (by an include, say) are dropped.
  void change_use(StageDecl& decl, const ConfigValue& cv) {
    const std::string* before = decl.use ? std::get_if<std::string>(&decl.use->value) : nullptr;
    const std::string* after = std::get_if<std::string>(&cv.value);
    if (before && after && *before != *after) {
      std::string dropped;
      for (const auto& [k, v] : decl.params) dropped += (dropped.empty() ? "" : ", ") + k;
      spdlog::debug("{}: stage '{}': 'use' changes from '{}' to '{}'; {}",
                    format_location(cv.key_where), decl.id, *before, *after,
                    dropped.empty() ? std::string("no parameters were set for the old type")
                                    : "dropped the parameters set for the old type: " + dropped);
      decl.params.clear();
      decl.where = cv.key_where;  // "missing required parameter" points here now
    }
    decl.use = cv;
  }

  // `key = {}`: the key as if never set (a parameter takes its default again).
  void unset(StageDecl& decl, const std::string& key, const ConfigValue& cv) {
    if (key == "use") {
      error(cv.key_where, "stage '" + decl.id +
                              "': 'use' cannot be unset (a stage needs a type; give another "
                              "`use` to change it)");
    } else if (key == "input") {
      decl.inputs.clear();
    } else if (key == "concurrency") {
      decl.concurrency.reset();
    } else if (decl.params.erase(key) == 0) {
      std::vector<std::string> keys;
      for (const auto& [k, v] : decl.params) keys.push_back(k);
      error(cv.key_where, "stage '" + decl.id + "' has no '" + key + "' to unset" +
                              did_you_mean(closest_names(key, keys)));
    }
  }

  void load_pipeline(const toml::table& t, const std::string& path) {
    std::string dir = fs::path(path).parent_path().string();
    if (dir.empty()) dir = ".";
    // Includes first, so this file's settings and stages override them.
    if (const toml::node* inc = t.get("include")) {
      SourceLocation iw = location(inc->source(), path);
      std::vector<const toml::node*> items;
      if (const toml::array* arr = inc->as_array()) {
        for (const auto& el : *arr) items.push_back(&el);
      } else {
        items.push_back(inc);
      }
      for (const toml::node* el : items) {
        SourceLocation ew = location(el->source(), path);
        if (ew.line == 0) ew = iw;
        auto s = el->value_exact<std::string>();
        if (!s) {
          error(ew, "'include' must be a file name or a list of file names");
          continue;
        }
        fs::path target = fs::path(*s).is_absolute() ? fs::path(*s) : fs::path(dir) / *s;
        load_file(target.lexically_normal().string(), ew);
      }
    }
    for (auto&& [key, node] : t) {
      std::string k(key.str());
      if (k == "include") continue;
      set_pipeline_key(k, node, location(key.source(), path), location(node.source(), path), dir);
    }
  }

  void set_pipeline_key(const std::string& k, const toml::node& node, const SourceLocation& kw,
                        const SourceLocation& vw, const std::string& dir) {
    PipelineSettings& s = config_.settings;
    auto want_int = [&](int64_t& out, int64_t lo, int64_t hi, const char* why = "") {
      auto v = node.value_exact<int64_t>();
      if (!v) {
        error(vw, "pipeline." + k + " must be an integer, not " + toml_type_name(node));
      } else if (*v < lo || *v > hi) {
        error(vw, "pipeline." + k + " must be in [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + "]" + why + ", got " + std::to_string(*v));
      } else {
        out = *v;
      }
    };
    auto want_string = [&](std::string& out) {
      auto v = node.value_exact<std::string>();
      if (!v) {
        error(vw, "pipeline." + k + " must be a string, not " + toml_type_name(node));
      } else {
        out = *v;
      }
    };
    if (k == "name") {
      want_string(s.name);
    } else if (k == "description") {
      want_string(s.description);
    } else if (k == "threads") {
      want_int(s.threads, 0, 4096, " (0: all cores)");
    } else if (k == "max_in_flight") {
      // The source holds its next item while the limiter admits the others, so one
      // item in flight cannot be honoured; the CLI's --max-in-flight says the same.
      want_int(s.max_in_flight, 2, int64_t{1} << 20, " (the source holds one more item)");
    } else if (k == "seed") {
      want_int(s.seed, 0, std::numeric_limits<int64_t>::max());
    } else if (k == "output") {
      want_string(s.output);
    } else if (k == "chain") {
      auto v = node.value_exact<bool>();
      if (!v) {
        error(vw, "pipeline.chain must be true or false, not " + toml_type_name(node));
      } else {
        s.chain = *v;
      }
    } else if (k == "plugins") {
      const toml::array* arr = node.as_array();
      if (!arr) {
        error(vw, "pipeline.plugins must be a list of shared-library paths");
      } else {
        for (const auto& el : *arr) {
          auto p = el.value_exact<std::string>();
          if (!p) {
            error(vw, "pipeline.plugins entries must be strings");
            continue;
          }
          fs::path target = fs::path(*p).is_absolute() ? fs::path(*p) : fs::path(dir) / *p;
          s.plugins.push_back(target.lexically_normal().string());
        }
      }
    } else if (k == "include") {
      error(kw, "pipeline.include cannot be set from the command line");
    } else {
      error(kw, "unknown key '" + k + "' in [pipeline]" +
                    did_you_mean(closest_names(k, kPipelineKeys)));
      return;
    }
    s.where[k] = vw;
  }

  GraphConfig& config_;
  std::vector<Diagnostic>& errors_;
  std::vector<std::string> stack_;
  std::unordered_map<std::string, size_t> stage_index_;  // id -> position in config_.stages
};

}  // namespace

void note_includes(const GraphConfig& config, std::vector<Diagnostic>& errors, size_t first) {
  if (config.included_from.empty()) return;
  for (size_t i = first; i < errors.size(); ++i) {
    std::string chain;
    std::string file = errors[i].where.file;
    // Bounded: a cycle is refused while loading, but a map can still loop.
    for (size_t depth = 0; depth < config.included_from.size(); ++depth) {
      auto it = config.included_from.find(file);
      if (it == config.included_from.end()) break;
      chain += (chain.empty() ? " (included from " : ", from ") + format_location(it->second);
      file = it->second.file;
    }
    if (!chain.empty()) errors[i].message += chain + ")";
  }
}

GraphConfig load_config(const std::string& path, const std::vector<std::string>& overrides,
                        std::vector<Diagnostic>& errors) {
  GraphConfig config;
  config.path = path;
  const size_t first = errors.size();
  Loader loader(config, errors);
  loader.load_file(path, SourceLocation{});
  for (const auto& o : overrides) loader.apply_override(o);
  note_includes(config, errors, first);
  return config;
}

GraphConfig load_config_string(const std::string& toml_text, const std::string& name,
                               const std::vector<std::string>& overrides,
                               std::vector<Diagnostic>& errors) {
  GraphConfig config;
  config.path = name;
  Loader loader(config, errors);
  loader.load_text(toml_text, name);
  for (const auto& o : overrides) loader.apply_override(o);
  return config;
}

}  // namespace sluice
