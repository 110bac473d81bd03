#include "pipeline/packet.h"

#include <stdexcept>

namespace sluice {

const char* control_kind_name(ControlKind kind) {
  switch (kind) {
    case ControlKind::kEndOfSplit: return "end of split";
    case ControlKind::kEndOfEpoch: return "end of epoch";
    case ControlKind::kEndOfStream: return "end of stream";
  }
  return "?";
}

void throw_payload_mismatch(const std::any& value, const char* expected) {
  throw std::logic_error(std::string("payload type mismatch: expected ") + expected + ", got " +
                         (value.has_value() ? value.type().name() : "nothing"));
}

}  // namespace sluice
