// What flows along the edges of a sluice graph.
//
// A Packet is one payload (any copyable C++ value, e.g. sluice::Sample or
// sluice::Batch) or one control marker (end of a split, end of an epoch, end of
// the stream). Control markers travel in order with the data, so a serial stage
// that needs order (a batcher, a trainer) sees "end of validation split" exactly
// after the last validation item.
#pragma once

#include <any>
#include <cstdint>
#include <string>
#include <utility>

namespace sluice {

enum class ControlKind : uint8_t {
  kEndOfSplit,   // all items of `split` for `epoch` have been emitted
  kEndOfEpoch,   // all splits of `epoch` have been emitted
  kEndOfStream,  // the source is exhausted (added by the framework)
};

const char* control_kind_name(ControlKind kind);

struct Control {
  ControlKind kind = ControlKind::kEndOfStream;
  std::string split;  // for kEndOfSplit: "train", "validation", "test", ...
  int64_t epoch = 0;
};

struct Packet {
  std::any value;        // the payload, or a Control when is_control
  bool is_control = false;

  static Packet data(std::any v) { return Packet{std::move(v), false}; }
  static Packet control(Control c) { return Packet{std::any(std::move(c)), true}; }
  const Control& as_control() const { return *std::any_cast<Control>(&value); }
};

// Reads a payload of the expected type; a mismatch is a framework bug (ports are
// type-checked before the run), reported with both type names.
template <class T>
T& payload_as(std::any& value);
template <class T>
const T& payload_as(const std::any& value);

[[noreturn]] void throw_payload_mismatch(const std::any& value, const char* expected);

template <class T>
T& payload_as(std::any& value) {
  if (T* p = std::any_cast<T>(&value)) return *p;
  throw_payload_mismatch(value, typeid(T).name());
}
template <class T>
const T& payload_as(const std::any& value) {
  if (const T* p = std::any_cast<T>(&value)) return *p;
  throw_payload_mismatch(value, typeid(T).name());
}

}  // namespace sluice
