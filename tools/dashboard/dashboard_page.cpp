#include <string>

#include "tools/dashboard/dashboard_server.h"
#include "tools/web/web_assets.h"

namespace sluice::embedded {
extern const char* const dashboard_html;
}  // namespace sluice::embedded

namespace sluice::dashboard {
namespace {

void replace(std::string& text, const std::string& marker, const std::string& with) {
  const size_t at = text.find(marker);
  if (at != std::string::npos) text.replace(at, marker.size(), with);
}

}  // namespace

const std::string& dashboard_page() {
  static const std::string page = [] {
    std::string html = embedded::dashboard_html;
    replace(html, "/*UPLOT_CSS*/", web::kUplotCss);
    replace(html, "/*UPLOT_JS*/", web::script_safe(web::kUplotJs));
    std::string licence = web::kUplotLicense;
    for (size_t at = licence.find("--"); at != std::string::npos; at = licence.find("--", at)) {
      licence.replace(at, 2, "- -");
    }
    replace(html, "UPLOT_LICENSE", licence);
    return html;
  }();
  return page;
}

}  // namespace sluice::dashboard
