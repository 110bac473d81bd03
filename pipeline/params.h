// Stage parameters: the schema a stage declares (ParamSpec) and the validated
// values it receives (Params). Validation, `sluice stages` and the docs all read
// the same ParamSpec, so a parameter is described exactly once.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace sluice {

enum class ParamType { kBool, kInt, kFloat, kString, kFloatList, kIntList, kStringList };

// "int", "float", "float list", ... as written in docs and error messages.
const char* param_type_name(ParamType type);

using ParamValue = std::variant<std::monostate, bool, int64_t, double, std::string,
                                std::vector<double>, std::vector<int64_t>,
                                std::vector<std::string>>;

// Renders a value the way it would be written in TOML.
std::string format_param_value(const ParamValue& value);

// One declared parameter. Built with the named constructors and chained setters:
//   ParamSpec::integer("count", 1000, "how many items to emit").min(0)
struct ParamSpec {
  std::string name;
  ParamType type = ParamType::kInt;
  ParamValue default_value;  // monostate when required or optional-without-default
  std::string doc;
  std::optional<double> min_value;
  std::optional<double> max_value;
  std::vector<std::string> choices;  // allowed values of a string parameter
  bool is_required = false;
  std::optional<size_t> list_size_min;  // bounds on the element count of a list
  std::optional<size_t> list_size_max;

  static ParamSpec boolean(std::string name, bool def, std::string doc);
  static ParamSpec integer(std::string name, int64_t def, std::string doc);
  static ParamSpec number(std::string name, double def, std::string doc);
  static ParamSpec string(std::string name, std::string def, std::string doc);
  static ParamSpec numbers(std::string name, std::vector<double> def, std::string doc);
  static ParamSpec integers(std::string name, std::vector<int64_t> def, std::string doc);
  static ParamSpec strings(std::string name, std::vector<std::string> def, std::string doc);
  // A parameter that must be given (no default).
  static ParamSpec required(std::string name, ParamType type, std::string doc);
  // A parameter that may be absent (no default); check with Params::has().
  static ParamSpec optional(std::string name, ParamType type, std::string doc);

  ParamSpec& min(double v) { min_value = v; return *this; }
  ParamSpec& max(double v) { max_value = v; return *this; }
  ParamSpec& range(double lo, double hi) { min_value = lo; max_value = hi; return *this; }
  ParamSpec& one_of(std::vector<std::string> values) { choices = std::move(values); return *this; }
  ParamSpec& list_size(size_t lo, size_t hi) { list_size_min = lo; list_size_max = hi; return *this; }
};

// Validated parameter values for one stage instance, defaults filled in.
// Getters throw std::logic_error for undeclared names or a wrong type (a bug in
// the stage, not in the user's config, which was validated before).
class Params {
 public:
  Params() = default;
  explicit Params(std::map<std::string, ParamValue> values) : values_(std::move(values)) {}

  bool has(const std::string& name) const;
  bool get_bool(const std::string& name) const;
  int64_t get_int(const std::string& name) const;
  double get_float(const std::string& name) const;  // accepts int values too
  const std::string& get_string(const std::string& name) const;
  std::vector<double> get_floats(const std::string& name) const;
  const std::vector<int64_t>& get_ints(const std::string& name) const;
  const std::vector<std::string>& get_strings(const std::string& name) const;

  void set(const std::string& name, ParamValue value) { values_[name] = std::move(value); }
  const std::map<std::string, ParamValue>& values() const { return values_; }

 private:
  const ParamValue& at(const std::string& name) const;
  std::map<std::string, ParamValue> values_;
};

}  // namespace sluice
