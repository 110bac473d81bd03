#include "pipeline/suggest.h"

#include <algorithm>
#include <cctype>

namespace sluice {

size_t edit_distance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  auto lower = [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); };
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

std::vector<std::string> closest_names(const std::string& name,
                                       const std::vector<std::string>& candidates,
                                       size_t max_results) {
  std::vector<std::pair<size_t, std::string>> scored;
  for (const auto& c : candidates) {
    size_t dist = edit_distance(name, c);
    // A typo is at most about a third of the word; a shared prefix or suffix
    // ("decode" for "image.decode_jpeg") also counts as close.
    size_t limit = std::max<size_t>(2, std::max(name.size(), c.size()) / 3);
    bool contains = name.size() >= 3 && c.find(name) != std::string::npos;
    if (dist <= limit || contains) scored.emplace_back(contains ? std::min(dist, limit) : dist, c);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::string> out;
  for (auto& s : scored) {
    if (out.size() == max_results) break;
    out.push_back(std::move(s.second));
  }
  return out;
}

std::string did_you_mean(const std::vector<std::string>& suggestions) {
  if (suggestions.empty()) return {};
  std::string s = "; did you mean '" + suggestions[0] + "'";
  for (size_t i = 1; i < suggestions.size(); ++i) {
    s += (i + 1 == suggestions.size() ? " or '" : ", '") + suggestions[i] + "'";
  }
  return s + "?";
}

}  // namespace sluice
