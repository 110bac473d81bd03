#include "pipeline/diagnostics.h"

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

void print_diagnostics(std::ostream& out, const std::vector<Diagnostic>& diagnostics) {
  for (const auto& d : diagnostics) out << format_diagnostic(d) << '\n';
  if (diagnostics.size() > 1) out << diagnostics.size() << " errors\n";
}

namespace {
std::string summary(const std::vector<Diagnostic>& diagnostics) {
  std::string s;
  for (const auto& d : diagnostics) s += format_diagnostic(d) + "\n";
  return s;
}
}  // namespace

ConfigError::ConfigError(std::vector<Diagnostic> diagnostics)
    : std::runtime_error(summary(diagnostics)), diagnostics_(std::move(diagnostics)) {}

}  // namespace sluice
