// Short descriptions of payloads for error messages: the runner names the item
// a stage failed on ("Int 42", "Image 000123.jpg (list_attr_celeba.csv:125)").
//
// The core describes its own types (Int, Float, String, control markers). A
// payload type describes itself with a function found next to it (by
// argument-dependent lookup), which a port declaring the type registers here
// (pipeline/port_type.h):
//   namespace my { std::string payload_text(const Histogram& h); }
// Anything else is described by its C++ type name.
#pragma once

#include <any>
#include <functional>
#include <string>
#include <typeinfo>

namespace sluice {

std::string describe_payload(const std::any& value);

using PayloadTextFn = std::function<std::string(const std::any&)>;
// Sets how payloads of `type` are described (a later call for the same type wins).
void add_payload_text(const std::type_info& type, PayloadTextFn fn);

}  // namespace sluice
