#include "pipeline/params.h"

#include <sstream>
#include <stdexcept>

namespace sluice {

const char* param_type_name(ParamType type) {
  switch (type) {
    case ParamType::kBool: return "bool";
    case ParamType::kInt: return "integer";
    case ParamType::kFloat: return "float";
    case ParamType::kString: return "string";
    case ParamType::kFloatList: return "list of floats";
    case ParamType::kIntList: return "list of integers";
    case ParamType::kStringList: return "list of strings";
  }
  return "?";
}

namespace {

template <class T>
std::string join(const std::vector<T>& v) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out << ", ";
    if constexpr (std::is_same_v<T, std::string>) {
      out << '"' << v[i] << '"';
    } else {
      out << v[i];
    }
  }
  out << ']';
  return out.str();
}

ParamSpec make(std::string name, ParamType type, ParamValue def, std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = type;
  p.default_value = std::move(def);
  p.doc = std::move(doc);
  return p;
}

}  // namespace

std::string format_param_value(const ParamValue& value) {
  struct Visitor {
    std::string operator()(std::monostate) const { return "(none)"; }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const {
      std::ostringstream out;
      out << d;
      std::string s = out.str();
      if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
      return s;
    }
    std::string operator()(const std::string& s) const { return '"' + s + '"'; }
    std::string operator()(const std::vector<double>& v) const { return join(v); }
    std::string operator()(const std::vector<int64_t>& v) const { return join(v); }
    std::string operator()(const std::vector<std::string>& v) const { return join(v); }
  };
  return std::visit(Visitor{}, value);
}

ParamSpec ParamSpec::boolean(std::string name, bool def, std::string doc) {
  return make(std::move(name), ParamType::kBool, def, std::move(doc));
}
ParamSpec ParamSpec::integer(std::string name, int64_t def, std::string doc) {
  return make(std::move(name), ParamType::kInt, def, std::move(doc));
}
ParamSpec ParamSpec::number(std::string name, double def, std::string doc) {
  return make(std::move(name), ParamType::kFloat, def, std::move(doc));
}
ParamSpec ParamSpec::string(std::string name, std::string def, std::string doc) {
  return make(std::move(name), ParamType::kString, std::move(def), std::move(doc));
}
ParamSpec ParamSpec::numbers(std::string name, std::vector<double> def, std::string doc) {
  return make(std::move(name), ParamType::kFloatList, std::move(def), std::move(doc));
}
ParamSpec ParamSpec::integers(std::string name, std::vector<int64_t> def, std::string doc) {
  return make(std::move(name), ParamType::kIntList, std::move(def), std::move(doc));
}
ParamSpec ParamSpec::strings(std::string name, std::vector<std::string> def, std::string doc) {
  return make(std::move(name), ParamType::kStringList, std::move(def), std::move(doc));
}
ParamSpec ParamSpec::required(std::string name, ParamType type, std::string doc) {
  ParamSpec p = make(std::move(name), type, std::monostate{}, std::move(doc));
  p.is_required = true;
  return p;
}
ParamSpec ParamSpec::optional(std::string name, ParamType type, std::string doc) {
  return make(std::move(name), type, std::monostate{}, std::move(doc));
}

bool Params::has(const std::string& name) const {
  auto it = values_.find(name);
  return it != values_.end() && !std::holds_alternative<std::monostate>(it->second);
}

const ParamValue& Params::at(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || std::holds_alternative<std::monostate>(it->second)) {
    throw std::logic_error("parameter '" + name + "' was not declared or has no value");
  }
  return it->second;
}

namespace {
[[noreturn]] void wrong_type(const std::string& name, const char* wanted) {
  throw std::logic_error("parameter '" + name + "' is not a " + wanted);
}
}  // namespace

bool Params::get_bool(const std::string& name) const {
  if (auto* v = std::get_if<bool>(&at(name))) return *v;
  wrong_type(name, "bool");
}
int64_t Params::get_int(const std::string& name) const {
  if (auto* v = std::get_if<int64_t>(&at(name))) return *v;
  wrong_type(name, "integer");
}
double Params::get_float(const std::string& name) const {
  const ParamValue& v = at(name);
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  wrong_type(name, "float");
}
const std::string& Params::get_string(const std::string& name) const {
  if (auto* v = std::get_if<std::string>(&at(name))) return *v;
  wrong_type(name, "string");
}
std::vector<double> Params::get_floats(const std::string& name) const {
  const ParamValue& v = at(name);
  if (auto* d = std::get_if<std::vector<double>>(&v)) return *d;
  if (auto* i = std::get_if<std::vector<int64_t>>(&v)) return {i->begin(), i->end()};
  wrong_type(name, "list of floats");
}
const std::vector<int64_t>& Params::get_ints(const std::string& name) const {
  if (auto* v = std::get_if<std::vector<int64_t>>(&at(name))) return *v;
  wrong_type(name, "list of integers");
}
const std::vector<std::string>& Params::get_strings(const std::string& name) const {
  if (auto* v = std::get_if<std::vector<std::string>>(&at(name))) return *v;
  wrong_type(name, "list of strings");
}

}  // namespace sluice
