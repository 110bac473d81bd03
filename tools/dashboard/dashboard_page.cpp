#include <string>

#include "tools/dashboard/dashboard_server.h"

namespace sluice::embedded {
extern const char* const dashboard_html;
extern const char* const uplot_js;
extern const char* const uplot_css;
extern const char* const uplot_license;
}  // namespace sluice::embedded

namespace sluice::dashboard {
namespace {

void replace(std::string& text, const std::string& marker, const std::string& with) {
  const size_t at = text.find(marker);
  if (at != std::string::npos) text.replace(at, marker.size(), with);
}

// "</script" cannot appear inside an inline script; uPlot's code has none, but
// a later version might.
std::string script_safe(std::string js) {
  for (size_t at = js.find("</script"); at != std::string::npos; at = js.find("</script", at)) {
    js.replace(at, 2, "<\\/");
  }
  return js;
}

}  // namespace

const std::string& dashboard_page() {
  static const std::string page = [] {
    std::string html = embedded::dashboard_html;
    replace(html, "/*UPLOT_CSS*/", embedded::uplot_css);
    replace(html, "/*UPLOT_JS*/", script_safe(embedded::uplot_js));
    std::string licence = embedded::uplot_license;
    for (size_t at = licence.find("--"); at != std::string::npos; at = licence.find("--", at)) {
      licence.replace(at, 2, "- -");
    }
    replace(html, "UPLOT_LICENSE", licence);
    return html;
  }();
  return page;
}

}  // namespace sluice::dashboard
