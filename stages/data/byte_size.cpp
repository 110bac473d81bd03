#include "stages/data/byte_size.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <utility>

namespace sluice::data {
namespace {

constexpr std::pair<const char*, double> kUnits[] = {{"", 1.0},
                                                     {"B", 1.0},
                                                     {"KiB", 1024.0},
                                                     {"MiB", 1048576.0},
                                                     {"GiB", 1073741824.0},
                                                     {"TiB", 1099511627776.0},
                                                     {"kB", 1e3},
                                                     {"KB", 1e3},
                                                     {"MB", 1e6},
                                                     {"GB", 1e9},
                                                     {"TB", 1e12}};

constexpr double kMaxBytes = 4611686018427387904.0;  // 2^62

}  // namespace

std::optional<int64_t> parse_byte_size(const std::string& text) {
  size_t i = 0;
  while (i < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.' || text[i] == '_')) {
    ++i;
  }
  std::string number;
  for (size_t k = 0; k < i; ++k) {
    if (text[k] != '_') number += text[k];
  }
  if (number.empty() || number == "." || number.find('.') != number.rfind('.')) return std::nullopt;
  size_t unit_at = i;
  while (unit_at < text.size() && text[unit_at] == ' ') ++unit_at;
  const std::string unit = text.substr(unit_at);
  for (const auto& [name, scale] : kUnits) {
    if (unit != name) continue;
    if (scale == 1.0 && number.find('.') != std::string::npos) return std::nullopt;
    const double bytes = std::strtod(number.c_str(), nullptr) * scale;
    if (!(bytes >= 0.0 && bytes <= kMaxBytes)) return std::nullopt;
    return static_cast<int64_t>(std::llround(bytes));
  }
  return std::nullopt;
}

std::string format_byte_size(int64_t bytes) {
  constexpr const char* kNames[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (std::fabs(v) >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char text[32];
  if (u == 0) {
    std::snprintf(text, sizeof text, "%lld B", static_cast<long long>(bytes));
  } else {
    std::snprintf(text, sizeof text, "%.1f %s", v, kNames[u]);
  }
  return text;
}

}  // namespace sluice::data
