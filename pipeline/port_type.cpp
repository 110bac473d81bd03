#include "pipeline/port_type.h"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>

namespace sluice {

std::string cpp_type_name(const std::type_info& type) {
  if (type == typeid(int64_t)) return "int64_t";  // not "long", as the platform spells it
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(
      abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free);
  std::string name = status == 0 && demangled ? demangled.get() : type.name();
  // The standard library's spelling of std::string, as a reader writes it.
  if (name.rfind("std::__cxx11::basic_string<char", 0) == 0) return "std::string";
  return name;
}

bool PortType::accepts(const PortType& produced) const {
  if (type == nullptr || produced.type == nullptr) return true;  // either carries any type
  return *type == *produced.type;
}

bool PortType::same_as(const PortType& other) const {
  if (type == nullptr || other.type == nullptr) return type == other.type;
  return *type == *other.type;
}

std::string PortType::describe() const {
  return name + " (" + (type ? cpp_type_name(*type) : std::string("any type")) + ")";
}

}  // namespace sluice
