#include "stages/data/csv_rows.h"

#include "stages/data/celeba_index.h"

namespace sluice::data {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string trimmed(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_blank(s[b])) ++b;
  while (e > b && (is_blank(s[e - 1]) || s[e - 1] == '\r')) --e;
  return std::string(s.substr(b, e - b));
}

}  // namespace

std::string_view strip_bom(std::string_view text) {
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  return text.substr(0, kBom.size()) == kBom ? text.substr(kBom.size()) : text;
}

CsvRows::CsvRows(std::string_view text, std::string file)
    : text_(strip_bom(text)), file_(std::move(file)) {}

void CsvRows::read_quoted(std::string& field, int64_t record_line) {
  const int64_t opened = line_;
  ++pos_;  // the opening quote
  while (true) {
    const size_t quote = text_.find('"', pos_);
    if (quote == std::string_view::npos) {
      throw IndexError(file_, opened,
                       "quoted field opened here is never closed" +
                           (opened == record_line
                                ? std::string()
                                : " (record starts on line " + std::to_string(record_line) + ")"));
    }
    const std::string_view part = text_.substr(pos_, quote - pos_);
    for (char c : part) line_ += c == '\n';
    field.append(part);
    pos_ = quote + 1;
    if (pos_ < text_.size() && text_[pos_] == '"') {  // "" stands for one quote
      field += '"';
      ++pos_;
      continue;
    }
    break;
  }
  while (pos_ < text_.size() && (is_blank(text_[pos_]) || text_[pos_] == '\r')) ++pos_;
  if (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n') {
    throw IndexError(file_, line_,
                     "unexpected text after a closing quote (a quote inside a quoted field is "
                     "written \"\")");
  }
}

bool CsvRows::next(CsvRecord& record) {
  while (pos_ < text_.size()) {
    record.fields.clear();
    record.line = line_;
    bool blank_line = true;
    while (true) {
      size_t start = pos_;
      while (pos_ < text_.size() && is_blank(text_[pos_])) ++pos_;
      std::string field;
      if (pos_ < text_.size() && text_[pos_] == '"') {
        blank_line = false;
        read_quoted(field, record.line);
      } else {
        pos_ = start;
        const size_t end = text_.find_first_of(",\n", pos_);
        const size_t stop = end == std::string_view::npos ? text_.size() : end;
        field = trimmed(text_.substr(pos_, stop - pos_));
        if (!field.empty()) blank_line = false;
        pos_ = stop;
      }
      record.fields.push_back(std::move(field));
      if (pos_ < text_.size() && text_[pos_] == ',') {
        blank_line = false;
        ++pos_;
        continue;
      }
      break;
    }
    if (pos_ < text_.size()) {  // the newline ending the record
      ++pos_;
      ++line_;
    }
    if (!blank_line) return true;
  }
  return false;
}

}  // namespace sluice::data
