#include "pipeline/payload_text.h"

#include <map>
#include <mutex>
#include <typeindex>

#include "pipeline/packet.h"
#include "pipeline/port_type.h"
#include "pipeline/text_escape.h"

namespace sluice {
namespace {

// Filled while libraries load, read when a stage fails: a mutex is cheap enough.
struct PayloadTexts {
  std::mutex mutex;
  std::map<std::type_index, PayloadTextFn> by_type;
};

PayloadTexts& payload_texts() {
  static PayloadTexts texts;
  return texts;
}

}  // namespace

void add_payload_text(const std::type_info& type, PayloadTextFn fn) {
  PayloadTexts& texts = payload_texts();
  std::lock_guard<std::mutex> lock(texts.mutex);
  texts.by_type[std::type_index(type)] = std::move(fn);
}

std::string describe_payload(const std::any& v) {
  if (auto* i = std::any_cast<int64_t>(&v)) return "Int " + std::to_string(*i);
  if (auto* d = std::any_cast<double>(&v)) return "Float " + std::to_string(*d);
  // Item text comes from data files: printable() keeps it on one line.
  if (auto* s = std::any_cast<std::string>(&v)) {
    return "String \"" + printable(s->size() > 60 ? s->substr(0, 60) + "..." : *s) + "\"";
  }
  if (auto* c = std::any_cast<Control>(&v))
    return std::string("marker '") + control_kind_name(c->kind) + "'";
  if (!v.has_value()) return "an empty item";
  PayloadTextFn fn;
  {
    PayloadTexts& texts = payload_texts();
    std::lock_guard<std::mutex> lock(texts.mutex);
    auto it = texts.by_type.find(std::type_index(v.type()));
    if (it != texts.by_type.end()) fn = it->second;
  }
  return fn ? fn(v) : "a value of type " + cpp_type_name(v.type());
}

}  // namespace sluice
