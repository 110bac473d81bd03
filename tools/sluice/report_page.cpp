#include "tools/sluice/report_page.h"

#include "tools/web/web_assets.h"

namespace sluice::cli {
namespace {

// JSON with every '<' written as \u003c: it cannot end the element it sits in.
std::string json_for_script(const nlohmann::json& data) {
  const std::string text = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '<') {
      out += "\\u003c";
    } else {
      out += c;
    }
  }
  return out;
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

std::string report_html(const nlohmann::json& data) {
  using namespace report_assets;
  using web::kUplotCss;
  using web::kUplotJs;
  using web::script_safe;
  std::string html;
  html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html += "<title>" + html_escape(data.value("title", std::string("sluice report"))) + "</title>\n";
  html += "<style>\n" + std::string(kUplotCss) + "\n</style>\n";
  html += "<style>\n" + std::string(kReportCss) + "\n</style>\n";
  // Errors of the scripts below are shown on the page (and checked by the tests).
  html +=
      "<script>window.reportErrors=[];window.addEventListener('error',function(e){"
      "window.reportErrors.push(String(e.message||e));var p=document.getElementById('script-"
      "errors');if(p){p.textContent=window.reportErrors.join('\\n');p.hidden=false;"
      "p.setAttribute('data-errors',window.reportErrors.length);}});</script>\n";
  html += "</head>\n<body>\n<main id=\"report\" data-rendered=\"0\">\n";
  html += "<noscript>This report draws its charts and tables with JavaScript.</noscript>\n";
  html += "</main>\n<pre id=\"script-errors\" data-errors=\"0\" hidden></pre>\n";
  html += "<script type=\"application/json\" id=\"report-data\">" + json_for_script(data) +
          "</script>\n";
  html += "<script>\n" + script_safe(kUplotJs) + "\n</script>\n";
  html += "<script>\n" + script_safe(kReportJs) + "\n</script>\n";
  html += "</body>\n</html>\n";
  return html;
}

}  // namespace sluice::cli
