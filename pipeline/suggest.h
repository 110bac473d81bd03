// "Did you mean" suggestions for misspelt names (stage types, parameters, ids).
#pragma once

#include <string>
#include <vector>

namespace sluice {

// Damerau-Levenshtein (optimal string alignment) distance, case-insensitive.
size_t edit_distance(const std::string& a, const std::string& b);

// Candidates close enough to `name` to be a plausible typo, best first.
std::vector<std::string> closest_names(const std::string& name,
                                       const std::vector<std::string>& candidates,
                                       size_t max_results = 3);

// "; did you mean 'x'?" / "; did you mean 'x' or 'y'?" / "" when none.
std::string did_you_mean(const std::vector<std::string>& suggestions);

}  // namespace sluice
