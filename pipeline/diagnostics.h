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

// At most this many diagnostics are printed (and kept in ConfigError::what());
// a line "... and N more errors" stands for the rest. A config with many thousands of
// unknown keys then still reports in a screenful.
constexpr size_t kMaxPrintedDiagnostics = 100;

std::string format_diagnostic(const Diagnostic& d);
// FILE:LINE:COL (or less, as far as known), for warnings that point into a config.
std::string format_location(const SourceLocation& where);
// The first kMaxPrintedDiagnostics, the count of the rest, then "N errors".
void print_diagnostics(std::ostream& out, const std::vector<Diagnostic>& diagnostics);

// Thrown by the loading helpers when a config has errors; holds all of them
// (what() lists the first kMaxPrintedDiagnostics).
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<Diagnostic> diagnostics);
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

}  // namespace sluice
