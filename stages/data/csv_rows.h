// CSV records as RFC 4180 writes them, for every CSV reader of the indexes:
// fields split at commas; a field in double quotes may hold commas, newlines
// and doubled quotes ("a ""b"", c" -> a "b", c). Spaces and tabs around an
// unquoted field are dropped; a quoted field keeps its text exactly. Lines end
// in LF or CRLF; blank lines are skipped. A UTF-8 byte-order mark at the start
// of the text is ignored (strip_bom).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::data {

// `text` without a leading UTF-8 byte-order mark (EF BB BF).
std::string_view strip_bom(std::string_view text);

struct CsvRecord {
  std::vector<std::string> fields;
  int64_t line = 0;  // 1-based line the record starts on
};

class CsvRows {
 public:
  // `file` names the text in errors. The text must outlive the reader.
  CsvRows(std::string_view text, std::string file);

  // The next non-blank record; false at the end. Throws IndexError
  // (FILE:LINE) on an unterminated quoted field or text after a closing quote.
  bool next(CsvRecord& record);

 private:
  void read_quoted(std::string& field, int64_t record_line);

  std::string_view text_;
  std::string file_;
  size_t pos_ = 0;
  int64_t line_ = 1;
};

}  // namespace sluice::data
