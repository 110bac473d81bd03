#include "pipeline/diagnostics.h"

#include <algorithm>

namespace sluice {

std::string format_location(const SourceLocation& where) {
  std::string s = where.file;
  if (where.line > 0) {
    s += ":" + std::to_string(where.line);
    if (where.column > 0) s += ":" + std::to_string(where.column);
  }
  return s;
}

std::string format_diagnostic(const Diagnostic& d) {
  std::string s = d.where.file;
  if (d.where.line > 0) {
    s += ":" + std::to_string(d.where.line);
    if (d.where.column > 0) s += ":" + std::to_string(d.where.column);
  }
  return s + ": error: " + d.message;
}

namespace {

// The first kMaxPrintedDiagnostics lines, then one line counting the rest.
std::string summary(const std::vector<Diagnostic>& diagnostics) {
  std::string s;
  const size_t shown = std::min(diagnostics.size(), kMaxPrintedDiagnostics);
  for (size_t i = 0; i < shown; ++i) s += format_diagnostic(diagnostics[i]) + "\n";
  if (diagnostics.size() > shown) {
    const size_t rest = diagnostics.size() - shown;
    s += "... and " + std::to_string(rest) + " more error" + (rest == 1 ? "" : "s") + "\n";
  }
  return s;
}

}  // namespace

void print_diagnostics(std::ostream& out, const std::vector<Diagnostic>& diagnostics) {
  out << summary(diagnostics);
  if (diagnostics.size() > 1) out << diagnostics.size() << " errors\n";
}

ConfigError::ConfigError(std::vector<Diagnostic> diagnostics)
    : std::runtime_error(summary(diagnostics)), diagnostics_(std::move(diagnostics)) {}

}  // namespace sluice
