#include "pipeline/suggest.h"

#include <algorithm>

namespace sluice {

namespace {
char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace

size_t edit_distance(const std::string& a, const std::string& b) {
  // Three rolling rows (i-2, i-1, i) instead of the whole matrix: this runs
  // once per candidate for every unknown key of a config.
  const size_t n = a.size(), m = b.size();
  std::vector<size_t> before(m + 1), prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; ++j) prev[j] = j;
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = i;
    const char ai = ascii_lower(a[i - 1]);
    for (size_t j = 1; j <= m; ++j) {
      const char bj = ascii_lower(b[j - 1]);
      size_t cost = ai == bj ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && ai == ascii_lower(b[j - 2]) && ascii_lower(a[i - 2]) == bj) {
        cur[j] = std::min(cur[j], before[j - 2] + 1);
      }
    }
    std::swap(before, prev);
    std::swap(prev, cur);
  }
  return prev[m];
}

std::vector<std::string> closest_names(const std::string& name,
                                       const std::vector<std::string>& candidates,
                                       size_t max_results) {
  std::vector<std::pair<size_t, std::string>> scored;
  for (const auto& c : candidates) {
    // A typo is at most about a third of the word; a shared prefix or suffix
    // ("decode" for "image.decode_jpeg") also counts as close.
    size_t limit = std::max<size_t>(2, std::max(name.size(), c.size()) / 3);
    bool contains = name.size() >= 3 && c.find(name) != std::string::npos;
    const size_t length_gap =
        name.size() > c.size() ? name.size() - c.size() : c.size() - name.size();
    if (length_gap > limit && !contains) continue;  // the distance is at least the gap
    size_t dist = edit_distance(name, c);
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
