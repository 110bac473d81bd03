// Config errors with their source position, reported all at once as
//   FILE:LINE:COL: error: MESSAGE
#pragma once

#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluice {

struct SourceLocation {
  std::string file;  // a path, or "--set KEY=VALUE" for a command-line override
  int line = 0;      // 1-based; 0 when unknown
  int column = 0;    // 1-based; 0 when unknown
};

struct Diagnostic {
  SourceLocation where;
  std::string message;
};

std::string format_diagnostic(const Diagnostic& d);
// FILE:LINE:COL (or less, as far as known), for warnings that point into a config.
std::string format_location(const SourceLocation& where);
void print_diagnostics(std::ostream& out, const std::vector<Diagnostic>& diagnostics);

// Thrown by the loading helpers when a config has errors; holds all of them.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<Diagnostic> diagnostics);
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

}  // namespace sluice
