#include "pipeline/validate.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <tuple>

#include "pipeline/spec_propagation.h"
#include "pipeline/suggest.h"

#include <spdlog/spdlog.h>

namespace sluice {

const ValidatedStage* ValidatedGraph::find(const std::string& id) const {
  for (const auto& s : stages) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

namespace {

std::string stage_label(const StageDecl& d, const StageEntry* e) {
  return "stage '" + d.id + "'" + (e ? " (" + e->spec.name + ")" : "");
}

// Converts a config value to the declared type, or explains why it can't.
std::optional<ParamValue> coerce_type(const ParamSpec& spec, const ConfigValue& cv,
                                      std::string& why) {
  const ParamValue& v = cv.value;
  auto mismatch = [&]() -> std::optional<ParamValue> {
    why = "expects " + std::string(param_type_name(spec.type)) + ", got " + cv.toml_type;
    return std::nullopt;
  };
  switch (spec.type) {
    case ParamType::kBool:
      if (std::holds_alternative<bool>(v)) return v;
      return mismatch();
    case ParamType::kInt:
      if (std::holds_alternative<int64_t>(v)) return v;
      return mismatch();
    case ParamType::kFloat:
      if (auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
      if (std::holds_alternative<double>(v)) return v;
      return mismatch();
    case ParamType::kString:
      if (std::holds_alternative<std::string>(v)) return v;
      return mismatch();
    case ParamType::kFloatList:
      if (auto* d = std::get_if<double>(&v)) return std::vector<double>{*d};
      if (auto* i = std::get_if<int64_t>(&v)) return std::vector<double>{static_cast<double>(*i)};
      if (auto* l = std::get_if<std::vector<int64_t>>(&v))
        return std::vector<double>(l->begin(), l->end());
      if (std::holds_alternative<std::vector<double>>(v)) return v;
      if (cv.toml_type == "empty array") return std::vector<double>{};
      return mismatch();
    case ParamType::kIntList:
      if (auto* i = std::get_if<int64_t>(&v)) return std::vector<int64_t>{*i};
      if (std::holds_alternative<std::vector<int64_t>>(v)) return v;
      if (cv.toml_type == "empty array") return std::vector<int64_t>{};
      return mismatch();
    case ParamType::kStringList:
      if (auto* s = std::get_if<std::string>(&v)) return std::vector<std::string>{*s};
      if (std::holds_alternative<std::vector<std::string>>(v)) return v;
      return mismatch();
  }
  return mismatch();
}

// TOML spells them nan, inf and -inf.
std::string non_finite_text(double d) { return std::isnan(d) ? "nan" : d > 0 ? "inf" : "-inf"; }

// No float or float-list element may be NaN or infinite (a stage computes with
// them; nothing sensible follows from either): "" or why not.
std::string check_finite(const ParamValue& v) {
  if (const auto* d = std::get_if<double>(&v); d && !std::isfinite(*d)) {
    return "must be a finite number, got " + non_finite_text(*d);
  }
  if (const auto* l = std::get_if<std::vector<double>>(&v)) {
    for (size_t k = 0; k < l->size(); ++k) {
      if (!std::isfinite((*l)[k])) {
        return "element " + std::to_string(k + 1) + " must be a finite number, got " +
               non_finite_text((*l)[k]);
      }
    }
  }
  return {};
}

// coerce_type, then check_finite.
std::optional<ParamValue> coerce(const ParamSpec& spec, const ConfigValue& cv, std::string& why) {
  std::optional<ParamValue> typed = coerce_type(spec, cv, why);
  if (!typed) return typed;
  why = check_finite(*typed);
  if (!why.empty()) return std::nullopt;
  return typed;
}

// Range, choice and size checks on an already-typed value.
std::string check_constraints(const ParamSpec& spec, const ParamValue& v) {
  auto fmt = [](double d) {
    // Whole numbers in full (a limit of 1048576, not 1.04858e+06).
    if (std::abs(d) < 1e15 && d == std::floor(d)) return std::to_string(static_cast<int64_t>(d));
    std::string s = format_param_value(d);
    if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
    return s;
  };
  auto range_text = [&]() {
    if (spec.min_value && spec.max_value)
      return "in [" + fmt(*spec.min_value) + ", " + fmt(*spec.max_value) + "]";
    if (spec.min_value) return ">= " + fmt(*spec.min_value);
    return "<= " + fmt(*spec.max_value);
  };
  auto in_range = [&](double d) {
    return !std::isnan(d) && (!spec.min_value || d >= *spec.min_value) &&
           (!spec.max_value || d <= *spec.max_value);
  };
  std::vector<double> numbers;
  size_t list_size = 0;
  bool is_list = false;
  if (auto* i = std::get_if<int64_t>(&v)) numbers.push_back(static_cast<double>(*i));
  if (auto* d = std::get_if<double>(&v)) numbers.push_back(*d);
  if (auto* l = std::get_if<std::vector<double>>(&v))
    numbers = *l, is_list = true, list_size = l->size();
  if (auto* l = std::get_if<std::vector<int64_t>>(&v)) {
    numbers.assign(l->begin(), l->end());
    is_list = true;
    list_size = l->size();
  }
  if (auto* l = std::get_if<std::vector<std::string>>(&v)) is_list = true, list_size = l->size();
  if (spec.min_value || spec.max_value) {
    for (double d : numbers) {
      if (!in_range(d)) return "must be " + range_text() + ", got " + fmt(d);
    }
  }
  if (is_list && ((spec.list_size_min && list_size < *spec.list_size_min) ||
                  (spec.list_size_max && list_size > *spec.list_size_max))) {
    size_t lo = spec.list_size_min.value_or(0), hi = spec.list_size_max.value_or(SIZE_MAX);
    std::string want = lo == hi         ? std::to_string(lo)
                       : hi == SIZE_MAX ? "at least " + std::to_string(lo)
                                        : std::to_string(lo) + " to " + std::to_string(hi);
    return "must have " + want + " element(s), got " + std::to_string(list_size);
  }
  if (!spec.choices.empty()) {
    std::vector<std::string> given;
    if (auto* s = std::get_if<std::string>(&v)) given.push_back(*s);
    if (auto* l = std::get_if<std::vector<std::string>>(&v)) given = *l;
    for (const auto& s : given) {
      if (std::find(spec.choices.begin(), spec.choices.end(), s) == spec.choices.end()) {
        std::string list;
        for (const auto& c : spec.choices) list += (list.empty() ? "" : ", ") + ("'" + c + "'");
        return "must be one of " + list + ", got '" + s + "'" +
               did_you_mean(closest_names(s, spec.choices, 1));
      }
    }
  }
  return {};
}

Concurrency parse_concurrency(const StageDecl& d, const StageEntry* e,
                              std::vector<Diagnostic>& errors) {
  Concurrency c;
  const bool safe = e && e->spec.thread_safe && e->spec.kind != StageKind::kSource;
  c.limit = safe ? 0 : 1;
  if (!d.concurrency) return c;
  const ConfigValue& cv = *d.concurrency;
  auto err = [&](const std::string& m) {
    errors.push_back({cv.value_where, stage_label(d, e) + ": " + m});
  };
  if (auto* s = std::get_if<std::string>(&cv.value)) {
    if (*s == "serial") {
      c.limit = 1;
    } else if (*s == "auto") {
      c.limit = 0;
    } else {
      err("concurrency must be \"serial\", \"auto\" or an integer >= 1, got \"" + *s + "\"");
      return c;
    }
  } else if (auto* i = std::get_if<int64_t>(&cv.value)) {
    if (*i < 1) {
      err("concurrency must be \"serial\", \"auto\" or an integer >= 1, got " + std::to_string(*i));
      return c;
    }
    c.limit = static_cast<size_t>(*i);
  } else {
    err("concurrency must be \"serial\", \"auto\" or an integer >= 1, not a " + cv.toml_type);
    return c;
  }
  if (e && c.limit != 1) {
    if (e->spec.kind == StageKind::kSource) {
      err("a source runs serially; remove 'concurrency' or set it to \"serial\"");
      c.limit = 1;
    } else if (!e->spec.thread_safe) {
      err("stage type '" + e->spec.name + "' is not thread-safe; concurrency must be \"serial\"");
      c.limit = 1;
    }
  }
  return c;
}

// The folder of the config file, for ParamCheck::config_dir().
std::string config_dir_of(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path p(path);
  if (path.empty() || !std::filesystem::is_regular_file(p, ec)) return ".";
  const std::filesystem::path dir = std::filesystem::absolute(p, ec).parent_path();
  return ec || dir.empty() ? std::string(".") : dir.string();
}

// Runs the StageSpec::check hooks of one stage; a hook that throws is reported
// as an error of the stage rather than escaping validation.
void run_stage_checks(const StageDecl& d, const StageEntry* e, const Params& params,
                      const std::string& config_path, std::vector<Diagnostic>& errors) {
  std::map<std::string, SourceLocation> where;
  for (const auto& [key, cv] : d.params) where[key] = cv.value_where;
  const ParamCheck check(d.id, params, std::move(where), d.where, config_dir_of(config_path),
                         stage_label(d, e), errors);
  for (const ParamCheckFn& fn : e->spec.checks) {
    try {
      fn(check);
    } catch (const std::exception& ex) {
      errors.push_back({d.where, stage_label(d, e) + ": parameter check failed: " + ex.what()});
    }
  }
}

// Sorts the diagnostics added since construction by position when it goes out
// of scope: report in source order, whatever order the checks ran in.
class SortDiagnosticsOnExit {
 public:
  explicit SortDiagnosticsOnExit(std::vector<Diagnostic>& errors)
      : errors_(errors), first_(errors.size()) {}
  ~SortDiagnosticsOnExit() {
    // Sort keys computed once per diagnostic (a config may have millions).
    std::map<std::string, size_t> rank;
    std::vector<std::tuple<size_t, int, int, size_t>> keys;
    for (size_t i = first_; i < errors_.size(); ++i) {
      const SourceLocation& w = errors_[i].where;
      keys.emplace_back(rank.emplace(w.file, rank.size()).first->second, w.line, w.column, i);
    }
    std::sort(keys.begin(), keys.end());
    std::vector<Diagnostic> sorted;
    sorted.reserve(keys.size());
    for (const auto& k : keys) sorted.push_back(std::move(errors_[std::get<3>(k)]));
    std::move(sorted.begin(), sorted.end(), errors_.begin() + static_cast<std::ptrdiff_t>(first_));
  }
  // Whether no diagnostic was added since construction.
  bool none_added() const { return errors_.size() == first_; }

 private:
  std::vector<Diagnostic>& errors_;
  size_t first_;
};

// The ids of the config's stages other than `id` (for "did you mean").
std::vector<std::string> other_ids(const GraphConfig& config, const std::string& id) {
  std::vector<std::string> others;
  for (const auto& d : config.stages) {
    if (d.id != id) others.push_back(d.id);
  }
  return others;
}

// Step 1: the registered stage type that `use` names; nullptr (and an error)
// when there is none.
const StageEntry* resolve_type(const StageDecl& d, const GraphConfig& config,
                               const Registry& registry, std::vector<Diagnostic>& errors) {
  if (!d.use) {
    std::string hint;
    if (config.stages.size() > 1) {
      hint = " — if it overrides a stage from an include, check the id" +
             did_you_mean(closest_names(d.id, other_ids(config, d.id)));
    }
    errors.push_back({d.where, "stage '" + d.id + "' has no 'use' (its stage type)" + hint});
    return nullptr;
  }
  const std::string* type = std::get_if<std::string>(&d.use->value);
  if (!type) {
    errors.push_back(
        {d.use->value_where, "stage '" + d.id + "': 'use' must be a string (a stage type)"});
    return nullptr;
  }
  const StageEntry* e = registry.find(*type);
  if (!e) {
    errors.push_back({d.use->value_where, "stage '" + d.id + "': unknown stage type '" + *type +
                                              "'" + did_you_mean(registry.closest(*type)) +
                                              " (`sluice stages` lists them)"});
    return nullptr;
  }
  if (const std::string now = registry.renamed_to(*type); !now.empty()) {
    spdlog::warn(
        "{}: stage '{}': stage type '{}' is now called '{}'; the old name is "
        "accepted for this version only",
        format_location(d.use->value_where), d.id, *type, now);
  }
  return e;
}

// `--set augment.zoom=0.1,0.2` arrives as the string "0.1,0.2": for a list
// parameter, the TOML list to write instead, quoted for the shell.
std::string list_on_command_line_hint(const std::string& id, const std::string& key,
                                      const ParamSpec& spec, const ConfigValue& cv) {
  const bool list = spec.type == ParamType::kFloatList || spec.type == ParamType::kIntList;
  const std::string* text = std::get_if<std::string>(&cv.value);
  if (!list || !text || text->find(',') == std::string::npos ||
      cv.value_where.file.rfind("--set ", 0) != 0) {
    return {};
  }
  return " (a list on the command line is TOML, in brackets and quoted for the shell: --set '" +
         id + "." + key + "=[" + *text + "]')";
}

// Keras's names (ImageDataGenerator, flow_from_directory, fit) for what sluice
// calls otherwise; a name not listed is the same in both or has no counterpart.
struct KerasName {
  const char* keras;
  const char* sluice;
};
constexpr KerasName kKerasNames[] = {
    {"zoom_range", "zoom"},
    {"shear_range", "shear"},
    {"horizontal_flip", "flip"},
    {"rotation_range", "rotation"},
    {"width_shift_range", "width_shift"},
    {"height_shift_range", "height_shift"},
    {"brightness_range", "brightness"},
    {"channel_shift_range", "channel_shift"},
    {"target_size", "width"},
    {"directory", "root"},
    {"learning_rate", "lr"},
};

// Parameter name -> the id of the first stage of the config whose type has it.
using ParamOwners = std::map<std::string, std::string>;

ParamOwners param_owners(const GraphConfig& config, const Registry& registry) {
  ParamOwners owners;
  for (const StageDecl& d : config.stages) {
    const std::string* use = d.use ? std::get_if<std::string>(&d.use->value) : nullptr;
    const StageEntry* e = use ? registry.find(*use) : nullptr;
    if (!e) continue;
    for (const ParamSpec& p : e->spec.params) owners.emplace(p.name, d.id);
  }
  return owners;
}

// What to say after "unknown parameter 'KEY'": a Keras name gets the sluice
// one; a parameter of another stage of the config (`epochs` under the trainer
// belongs to the source) gets that stage; else the closest names, if any.
// (A stage that has `key` is never this one: its key would not be unknown.)
std::string unknown_param_hint(const std::string& key, const StageEntry* e,
                               const std::vector<std::string>& known_keys,
                               const ParamOwners& owners) {
  std::string name = key;
  std::string keras;
  for (const KerasName& k : kKerasNames) {
    if (key == k.keras) name = k.sluice, keras = "; Keras's " + key + " is ";
  }
  if (!keras.empty() && e->spec.find_param(name)) {
    return keras + (key == "target_size" ? "'width' and 'height'" : "'" + name + "'") + " here";
  }
  const auto owner = owners.find(name);
  if (owner != owners.end()) {
    const std::string& other = owner->second;
    return (keras.empty() ? "; '" + name + "' is" : keras + "'" + name + "',") +
           " a parameter of stage '" + other + "': set " + other + "." + name;
  }
  if (!keras.empty()) {
    return keras + "'" + name + "' in sluice, which " + e->spec.name +
           " does not support yet (`sluice stages " + e->spec.name + "` lists what it has)";
  }
  return did_you_mean(closest_names(key, known_keys));
}

// Step 2: the stage's parameters, typed and checked against its ParamSpecs,
// defaults filled in; then its own check hooks, when all of them passed.
Params check_params(const StageDecl& d, const StageEntry* e, const std::string& config_path,
                    const ParamOwners& owners, std::vector<Diagnostic>& errors) {
  const size_t errors_before = errors.size();
  std::map<std::string, ParamValue> values;
  std::vector<std::string> known_keys;
  for (const auto& p : e->spec.params) {
    values[p.name] = p.default_value;
    known_keys.push_back(p.name);
  }
  for (const char* k : {"use", "input", "concurrency"}) known_keys.push_back(k);
  const std::string label = stage_label(d, e);
  for (const auto& [key, cv] : d.params) {
    const ParamSpec* ps = e->spec.find_param(key);
    if (!ps) {
      errors.push_back({cv.key_where, label + ": unknown parameter '" + key + "'" +
                                          unknown_param_hint(key, e, known_keys, owners)});
      continue;
    }
    std::string why;
    auto typed = coerce(*ps, cv, why);
    if (!typed) {
      errors.push_back({cv.value_where, label + ": parameter '" + key + "' " + why +
                                            list_on_command_line_hint(d.id, key, *ps, cv)});
      continue;
    }
    std::string bad = check_constraints(*ps, *typed);
    if (!bad.empty()) {
      errors.push_back({cv.value_where, label + ": parameter '" + key + "' " + bad});
      continue;
    }
    values[key] = std::move(*typed);
  }
  for (const auto& p : e->spec.params) {
    if (p.is_required && !d.params.count(p.name)) {
      errors.push_back({d.where, label + ": missing required parameter '" + p.name + "' (" +
                                     param_type_name(p.type) + ": " + p.doc + ")"});
    }
  }
  Params params(std::move(values));
  // The stage's own rules see only parameters that all passed their specs.
  if (errors.size() == errors_before && !e->spec.checks.empty()) {
    run_stage_checks(d, e, params, config_path, errors);
  }
  return params;
}

// Steps 1 and 2 for every stage, plus its concurrency; in config order. A
// stage whose type is unknown keeps a null entry.
std::vector<ValidatedStage> resolve_stages(const GraphConfig& config, const Registry& registry,
                                           std::vector<Diagnostic>& errors) {
  std::vector<ValidatedStage> stages(config.stages.size());
  const ParamOwners owners = param_owners(config, registry);
  for (size_t i = 0; i < config.stages.size(); ++i) {
    const StageDecl& d = config.stages[i];
    ValidatedStage& vs = stages[i];
    vs.id = d.id;
    vs.entry = resolve_type(d, config, registry, errors);
    if (!vs.entry) continue;
    vs.concurrency = parse_concurrency(d, vs.entry, errors);
    vs.params = check_params(d, vs.entry, config.path, owners, errors);
  }
  return stages;
}

// Step 3, per edge: the producer emits something, and the consumer's input
// port takes the C++ payload type of the producer's output port.
void check_edge(const StageDecl& d, const StageEntry* e, const std::string& in,
                const SourceLocation& where, const StageEntry* pe,
                std::vector<Diagnostic>& errors) {
  if (pe->spec.kind == StageKind::kSink) {
    errors.push_back({where, stage_label(d, e) + ": input '" + in + "' is a sink (" +
                                 pe->spec.name + ") and produces nothing"});
  } else if (!e->spec.input.accepts(pe->spec.output)) {
    errors.push_back({where, "port type mismatch: input '" + in + "' (" + pe->spec.name +
                                 ") emits " + pe->spec.output.describe() +
                                 " from its output port, but " + stage_label(d, e) + " takes " +
                                 e->spec.input.describe() + " on its input port"});
  }
}

// Step 3 for one stage: its inputs exist, its kind allows them, and each
// edge passes check_edge. Records the edges in `stages`.
void wire_stage(size_t i, const GraphConfig& config, const std::map<std::string, size_t>& index,
                std::vector<ValidatedStage>& stages, std::vector<Diagnostic>& errors) {
  const StageDecl& d = config.stages[i];
  const StageEntry* e = stages[i].entry;
  if (e && e->spec.kind == StageKind::kSource && !d.inputs.empty()) {
    errors.push_back({d.inputs.front().second,
                      stage_label(d, e) + " is a source and takes no input; remove 'input'"});
    return;
  }
  if (e && e->spec.kind != StageKind::kSource && d.inputs.empty()) {
    errors.push_back({d.where, stage_label(d, e) +
                                   " has a dangling input: it needs "
                                   "`input = \"<stage id>\"` (a stage producing " +
                                   e->spec.input.name + ")"});
    return;
  }
  for (const auto& [in, where] : d.inputs) {
    auto it = index.find(in);
    if (it == index.end()) {
      errors.push_back({where, stage_label(d, e) + ": input '" + in +
                                   "' is dangling: no stage has that id" +
                                   did_you_mean(closest_names(in, other_ids(config, d.id)))});
      continue;
    }
    const size_t j = it->second;
    if (j == i) {
      errors.push_back({where, "cycle: stage '" + d.id + "' takes its own output as input"});
      continue;
    }
    std::vector<size_t>& inputs = stages[i].inputs;
    if (std::find(inputs.begin(), inputs.end(), j) != inputs.end()) {
      errors.push_back({where, stage_label(d, e) + ": input '" + in + "' is listed twice"});
      continue;
    }
    inputs.push_back(j);
    stages[j].outputs.push_back(i);
    if (e && stages[j].entry) check_edge(d, e, in, where, stages[j].entry, errors);
  }
}

// Step 4: a topological order of the stages (inputs first); each cycle is
// reported once, at the input closing it (depth-first search).
std::vector<size_t> topological_order(const GraphConfig& config,
                                      const std::vector<ValidatedStage>& stages,
                                      std::vector<Diagnostic>& errors) {
  std::vector<int> state(stages.size(), 0);  // 0 new, 1 on stack, 2 done
  std::vector<size_t> stack;
  std::vector<size_t> order;
  std::function<void(size_t)> visit = [&](size_t i) {
    state[i] = 1;
    stack.push_back(i);
    for (size_t j : stages[i].inputs) {
      if (state[j] == 1) {
        auto pos = std::find(stack.begin(), stack.end(), j);
        std::string path;
        for (auto it = pos; it != stack.end(); ++it) path += stages[*it].id + " <- ";
        path += stages[j].id;
        SourceLocation where = config.stages[i].where;
        for (const auto& [name, w] : config.stages[i].inputs) {
          if (name == stages[j].id) where = w;
        }
        errors.push_back({where, "cycle: " + path + " (each stage takes the next one's output)"});
      } else if (state[j] == 0) {
        visit(j);
      }
    }
    stack.pop_back();
    state[i] = 2;
    order.push_back(i);
  };
  for (size_t i = 0; i < stages.size(); ++i) {
    if (state[i] == 0) visit(i);
  }
  return order;
}

// pipeline.output must name a stage of the graph (the Python module takes its
// batches there).
void check_output_setting(const GraphConfig& config, std::vector<Diagnostic>& errors) {
  const std::string& out = config.settings.output;
  if (out.empty() || config.find(out)) return;
  auto it = config.settings.where.find("output");
  SourceLocation where =
      it != config.settings.where.end() ? it->second : SourceLocation{config.path, 0, 0};
  errors.push_back({where, "pipeline.output names no stage '" + out + "'" +
                               did_you_mean(closest_names(out, other_ids(config, out)))});
}

// The stages in `order`, their edges renumbered to match.
std::vector<ValidatedStage> reorder(std::vector<ValidatedStage> stages,
                                    const std::vector<size_t>& order) {
  std::vector<size_t> new_index(stages.size());
  for (size_t k = 0; k < order.size(); ++k) new_index[order[k]] = k;
  std::vector<ValidatedStage> out;
  out.reserve(order.size());
  for (size_t k : order) {
    ValidatedStage vs = std::move(stages[k]);
    for (auto& x : vs.inputs) x = new_index[x];
    for (auto& x : vs.outputs) x = new_index[x];
    out.push_back(std::move(vs));
  }
  return out;
}

// The steps: resolve each stage (type, concurrency, parameters, check hooks),
// wire the edges (inputs, kinds, payload types), order the stages (cycles),
// then, when all of that passed, propagate element specs.
ValidatedGraph validate_steps(const GraphConfig& config, const Registry& registry,
                              std::vector<Diagnostic>& errors) {
  SortDiagnosticsOnExit sort_on_exit(errors);
  ValidatedGraph graph;
  graph.path = config.path;
  graph.settings = config.settings;
  graph.name = config.settings.name;
  if (config.stages.empty()) {
    Diagnostic none;  // built field by field: GCC 12 misreads the nested braces as uninitialised
    none.where.file = config.path;
    none.message = "the pipeline declares no stages ([stages.ID])";
    errors.push_back(std::move(none));
    return graph;
  }
  check_output_setting(config, errors);
  std::vector<ValidatedStage> stages = resolve_stages(config, registry, errors);
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < config.stages.size(); ++i) index[config.stages[i].id] = i;
  for (size_t i = 0; i < config.stages.size(); ++i) wire_stage(i, config, index, stages, errors);
  const std::vector<size_t> order = topological_order(config, stages, errors);
  graph.stages = reorder(std::move(stages), order);
  if (sort_on_exit.none_added()) propagate_specs(graph, config, errors);
  return graph;
}

}  // namespace

// validate_steps, then each error that points into an include says where that
// file was included.
ValidatedGraph validate(const GraphConfig& config, const Registry& registry,
                        std::vector<Diagnostic>& errors) {
  const size_t first = errors.size();
  ValidatedGraph graph = validate_steps(config, registry, errors);
  note_includes(config, errors, first);
  return graph;
}

namespace {
ValidatedGraph finish_loading(const GraphConfig& config, const Registry& registry,
                              std::vector<Diagnostic>& errors) {
  ValidatedGraph g;
  if (errors.empty() || !config.stages.empty()) g = validate(config, registry, errors);
  if (!errors.empty()) throw ConfigError(errors);
  return g;
}
}  // namespace

ValidatedGraph load_pipeline(const std::string& path, const std::vector<std::string>& overrides,
                             const Registry& registry) {
  std::vector<Diagnostic> errors;
  GraphConfig config = load_config(path, overrides, errors);
  return finish_loading(config, registry, errors);
}

ValidatedGraph load_pipeline_string(const std::string& toml_text, const std::string& name,
                                    const std::vector<std::string>& overrides,
                                    const Registry& registry) {
  std::vector<Diagnostic> errors;
  GraphConfig config = load_config_string(toml_text, name, overrides, errors);
  return finish_loading(config, registry, errors);
}

std::string check_param_value(const ParamSpec& spec, const ParamValue& value) {
  std::string why = check_finite(value);
  return why.empty() ? check_constraints(spec, value) : why;
}

}  // namespace sluice
