// What every page sluice writes or serves shares: the vendored uPlot
// (third_party/uplot), compiled in once, and the rule for inlining a script.
#pragma once

#include <string>

namespace sluice::web {

extern const char* const kUplotJs;
extern const char* const kUplotCss;
extern const char* const kUplotLicense;

// Text that sits inside a <script> element must not close it: every "</" is
// written "<\/", which a script reads the same.
std::string script_safe(std::string text);

}  // namespace sluice::web
