// Port types: the C++ payload type a stage's port carries, with a readable name.
//
// A stage names its payload types as template arguments,
//   StageSpec("image.batch").transform<sluice::Image, sluice::Batch>()
// and the spec records a PortType for each port: the readable name that
// `sluice check` and `sluice stages` print ("Image"), and the std::type_info of
// the C++ type, which validation compares across every edge. Two payload types
// that share a readable name but are different C++ types (a plugin's own
// "Image") do not connect.
//
// The readable name of a payload type comes from SLUICE_PAYLOAD_NAME, written
// once next to the type (at global scope):
//   struct Histogram { std::vector<int64_t> bins; };
//   SLUICE_PAYLOAD_NAME(my::Histogram, "Histogram");
// A type without one shows its C++ name. Error messages describe a payload
// (the item a stage failed on) with `std::string payload_text(const T&)` when
// one is declared beside the type (found by argument-dependent lookup); the
// first port of the type registers it (pipeline/payload_text.h). `AnyPayload`
// declares a port that takes or emits every type (a pass-through, a generic
// sink).
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "pipeline/payload_text.h"

namespace sluice {

// A port carrying every payload type (matches every port).
struct AnyPayload {};

// The C++ name of a type as the compiler spells it ("sluice::vision_v3::Image").
std::string cpp_type_name(const std::type_info& type);

// The readable name of payload type T; specialise it with SLUICE_PAYLOAD_NAME.
template <class T>
struct PayloadName {
  static std::string get() { return cpp_type_name(typeid(T)); }
};

// What one port carries. Default-constructed: no port (a source's input, a
// sink's output).
struct PortType {
  std::string name;                      // readable: "Image", "Int", "Any"
  const std::type_info* type = nullptr;  // the C++ payload type; nullptr: any type
  bool present = false;                  // false: the stage has no such port

  bool is_any() const { return present && type == nullptr; }
  // Whether a port of this type may take what `produced` emits: the same C++
  // type, or either side carries any type.
  bool accepts(const PortType& produced) const;
  // Whether both carry the same C++ type, or both any type.
  bool same_as(const PortType& other) const;
  // "Image (sluice::vision_v3::Image)", "Any (any type)": for mismatch messages.
  std::string describe() const;
};

namespace port_detail {
// Whether `payload_text(const T&)` is declared beside T.
template <class T, class = void>
struct HasPayloadText : std::false_type {};
template <class T>
struct HasPayloadText<T, std::void_t<decltype(payload_text(std::declval<const T&>()))>>
    : std::true_type {};
}  // namespace port_detail

// The PortType of payload type T (AnyPayload: any type). Registers T's
// payload_text() for error messages, when it has one.
template <class T>
PortType port_type() {
  static_assert(std::is_same_v<T, std::decay_t<T>>, "a payload type is a plain value type");
  if constexpr (std::is_same_v<T, AnyPayload>) {
    return PortType{"Any", nullptr, true};
  } else {
    if constexpr (port_detail::HasPayloadText<T>::value) {
      static const bool registered = [] {
        add_payload_text(typeid(T), [](const std::any& v) {
          return std::string(payload_text(*std::any_cast<T>(&v)));
        });
        return true;
      }();
      (void)registered;
    }
    return PortType{PayloadName<T>::get(), &typeid(T), true};
  }
}

// The readable name of payload type T, e.g. for ElementSpec::type.
template <class T>
std::string payload_name() {
  return port_type<T>().name;
}

}  // namespace sluice

// Gives payload type TYPE the readable name NAME. Use once per type, at global
// scope, in the header that defines the type.
#define SLUICE_PAYLOAD_NAME(TYPE, NAME)         \
  template <>                                   \
  struct sluice::PayloadName<TYPE> {            \
    static std::string get() { return (NAME); } \
  }

// The core's own payload types.
SLUICE_PAYLOAD_NAME(int64_t, "Int");
SLUICE_PAYLOAD_NAME(double, "Float");
SLUICE_PAYLOAD_NAME(std::string, "String");
