// The report page: one HTML file holding the runs' data (JSON), uPlot and the
// page's own script and style, so it opens offline from anywhere.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace sluice::cli {

namespace report_assets {
extern const char* const kReportJs;
extern const char* const kReportCss;
}  // namespace report_assets

// `data`: {"title": ..., "generated": ..., "runs": [load_run(...), ...]}.
std::string report_html(const nlohmann::json& data);

}  // namespace sluice::cli
