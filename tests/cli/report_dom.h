// The report page of `sluice report` as headless Chromium renders it (the DOM after
// its scripts ran), and what the tests read from it: chart shapes (data-series,
// data-points), image counts, the visible text.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "run_command.h"

namespace report_dom {

using cli_test::read_text;
namespace fs = std::filesystem;

inline bool have_chromium() { return std::system("command -v chromium >/dev/null 2>&1") == 0; }

// The page as Chromium leaves it after its scripts ran, and its console lines.
struct Rendered {
  std::string dom;
  std::string console;
};

inline Rendered render(const fs::path& html) {
  const fs::path dom = html.string() + ".dom", log = html.string() + ".log";
  const std::string cmd =
      "timeout 120 chromium --headless --no-sandbox --disable-gpu "
      "--virtual-time-budget=5000 --enable-logging=stderr --v=0 --dump-dom '" +
      html.string() + "' > '" + dom.string() + "' 2> '" + log.string() + "'";
  const int code = std::system(cmd.c_str());
  EXPECT_EQ(code, 0) << read_text(log);
  Rendered r{read_text(dom), {}};
  std::istringstream lines(read_text(log));
  for (std::string line; std::getline(lines, line);) {
    if (line.find("CONSOLE") != std::string::npos) r.console += line + "\n";
  }
  return r;
}

// data-series / data-points of the chart element `id`; {-1, -1} when absent.
inline std::pair<int, int> chart_shape(const std::string& dom, const std::string& id) {
  const std::regex re("<div class=\"chart\" id=\"" + id +
                      "\" data-series=\"([0-9]+)\" data-points=\"([0-9]+)\"");
  std::smatch m;
  if (!std::regex_search(dom, m, re)) return {-1, -1};
  return {std::stoi(m[1]), std::stoi(m[2])};
}

inline int attribute_count(const std::string& dom, const std::string& id, const std::string& attr) {
  const std::regex re("id=\"" + id + "\" " + attr + "=\"([0-9]+)\"");
  std::smatch m;
  return std::regex_search(dom, m, re) ? std::stoi(m[1]) : -1;
}

inline void expect_clean(const Rendered& page) {
  EXPECT_NE(page.dom.find("data-rendered=\"1\""), std::string::npos) << page.dom.substr(0, 2000);
  EXPECT_NE(page.dom.find("id=\"script-errors\" data-errors=\"0\""), std::string::npos)
      << page.dom.substr(page.dom.find("script-errors"), 600);
  EXPECT_EQ(page.console, "") << "console output of the page";
}

// `text` without the spans from each `open` to the next `close` (included).
inline std::string without(const std::string& text, const std::string& open,
                           const std::string& close) {
  std::string out;
  size_t at = 0;
  for (size_t from; (from = text.find(open, at)) != std::string::npos;) {
    out.append(text, at, from - at);
    const size_t to = text.find(close, from + open.size());
    at = to == std::string::npos ? text.size() : to + close.size();
  }
  return out + text.substr(std::min(at, text.size()));
}

// The page as a reader sees it: without scripts, styles and inlined images (whose
// base64 could hold any word).
inline std::string visible_text(const std::string& dom) {
  std::string text = without(dom, "<script", "</script>");
  text = without(text, "<style", "</style>");
  return without(text, "data:image/", "\"");
}

// The part of the DOM from the element with `id` to the end of its section.
inline std::string section(const std::string& dom, const std::string& id) {
  const size_t from = dom.find("id=\"" + id + "\"");
  if (from == std::string::npos) return {};
  const size_t to = dom.find("</section>", from);
  return dom.substr(from, to == std::string::npos ? std::string::npos : to - from);
}

// The text of each cell of the first <table class="CLASS"> in `html`, row by row
// (the header row first).
inline std::vector<std::vector<std::string>> table_cells(const std::string& html,
                                                         const std::string& cls) {
  std::vector<std::vector<std::string>> rows;
  const size_t from = html.find("<table class=\"" + cls + "\"");
  if (from == std::string::npos) return rows;
  const std::string table = html.substr(from, html.find("</table>", from) - from);
  for (size_t row = table.find("<tr"); row != std::string::npos; row = table.find("<tr", row + 1)) {
    const size_t row_end = table.find("</tr>", row);
    rows.emplace_back();
    for (size_t cell = table.find("<t", row + 3); cell < row_end;
         cell = table.find("<t", cell + 1)) {
      const std::string tag = table.substr(cell, 4);
      if (tag != "<td>" && tag != "<td " && tag != "<th>" && tag != "<th ") continue;
      const size_t text = table.find('>', cell) + 1;
      rows.back().push_back(table.substr(text, table.find("</t", text) - text));
    }
  }
  return rows;
}

}  // namespace report_dom
