// Every declared constraint of every built-in stage is enforced by validation, at the
// offending value's FILE:LINE:COL: for each parameter with a range, a value below and
// above it; for each float parameter, nan, inf and -inf; for each choice, a name that
// is not one. One config per bad value, so each error is seen on its own; none of them
// may validate (and so none reaches a run).
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pipeline/registry.h"
#include "pipeline/validate.h"
#include "stages/builtin.h"

namespace sluice {
namespace {

// A source of anything, so every transform and sink can be wired without its real
// producer.
class AnySource : public Source {
 public:
  explicit AnySource(const Params&) {}
  bool produce(Emitter&) override { return false; }
};

struct BadValue {
  std::string stage_type;
  std::string key;
  std::string toml;  // the value as written in the config
};

std::string number_text(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == std::floor(d) && std::fabs(d) < 1e15) return std::to_string(static_cast<int64_t>(d));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

bool is_list(ParamType t) {
  return t == ParamType::kFloatList || t == ParamType::kIntList || t == ParamType::kStringList;
}
bool is_float(ParamType t) { return t == ParamType::kFloat || t == ParamType::kFloatList; }
bool is_int(ParamType t) { return t == ParamType::kInt || t == ParamType::kIntList; }

// The value, in a list when the parameter is one; list parameters with a fixed size
// get that many copies, so only the element is wrong.
std::string as_param_value(const ParamSpec& p, const std::string& element) {
  if (!is_list(p.type)) return element;
  const size_t n = std::max<size_t>(1, p.list_size_min.value_or(1));
  std::string s = "[";
  for (size_t i = 0; i < n; ++i) s += (i ? ", " : "") + element;
  return s + "]";
}

std::vector<BadValue> bad_values(const Registry& registry) {
  std::vector<BadValue> out;
  for (const StageEntry* e : registry.entries()) {
    if (e->spec.name.rfind("test.", 0) == 0) continue;
    for (const ParamSpec& p : e->spec.params) {
      auto add = [&](const std::string& element) {
        out.push_back({e->spec.name, p.name, as_param_value(p, element)});
      };
      if (is_float(p.type) || is_int(p.type)) {
        // Just outside the range; integers step by one, floats by a margin.
        const double step = is_int(p.type) ? 1.0 : 0.5;
        if (p.min_value) add(number_text(*p.min_value - std::max(step, std::fabs(*p.min_value))));
        if (p.max_value) add(number_text(*p.max_value + std::max(step, std::fabs(*p.max_value))));
      }
      if (is_float(p.type)) {
        for (const char* v : {"nan", "inf", "-inf"}) add(v);
      }
      if (!p.choices.empty()) add("\"no-such-choice\"");
    }
  }
  return out;
}

Registry test_registry() {
  Registry registry;
  register_builtin_stages(registry);
  registry.add<AnySource>(StageSpec("test.any").source<AnyPayload>());
  return registry;
}

TEST(ParameterTable, EveryOutOfRangeNonFiniteOrUnknownChoiceIsALocatedError) {
  const Registry registry = test_registry();
  const std::vector<BadValue> cases = bad_values(registry);
  ASSERT_GT(cases.size(), 50u) << "the built-in stages declare ranges and choices";
  int checked = 0;
  for (const BadValue& c : cases) {
    const StageEntry* e = registry.find(c.stage_type);
    const bool source = e->spec.kind == StageKind::kSource;
    std::string toml =
        "[stages.src]\nuse = \"test.any\"\n[stages.s]\nuse = \"" + c.stage_type + "\"\n";
    if (!source) toml += "input = \"src\"\n";
    const int line = source ? 5 : 6;
    toml += c.key + " = " + c.toml + "\n";
    if (!source) toml += "";
    const std::string where = "table.toml:" + std::to_string(line) + ":" +
                              std::to_string(static_cast<int>(c.key.size()) + 4);
    std::string found;
    try {
      load_pipeline_string(toml, "table.toml", {}, registry);
    } catch (const ConfigError& err) {
      for (const Diagnostic& d : err.diagnostics()) {
        const std::string text = format_diagnostic(d);
        if (text.rfind(where + ": error:", 0) == 0 &&
            text.find("'" + c.key + "'") != std::string::npos) {
          found = text;
        }
      }
      if (found.empty()) {
        ADD_FAILURE() << c.stage_type << "." << c.key << " = " << c.toml << ": no error at "
                      << where << "; got:\n"
                      << err.what();
      }
      ++checked;
      continue;
    }
    ADD_FAILURE() << c.stage_type << "." << c.key << " = " << c.toml << " validated";
  }
  std::printf("%d bad values over %zu stage types, each refused at its position\n", checked,
              registry.entries().size() - 1);
}

}  // namespace
}  // namespace sluice
