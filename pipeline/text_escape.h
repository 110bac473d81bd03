// printable(): text from data files (image ids, paths, labels) made safe to
// print in one log line or table cell. A newline or an ANSI escape sequence in
// a file name would otherwise split a log line or recolour the terminal.
//
//   \n \r \t          -> the two characters "\n", "\r", "\t"
//   other C0, DEL     -> "\xNN" (ESC is "\x1b")
//   C1 controls       -> "\xC2\xNN" (U+0080..U+009F: some terminals obey them)
//   invalid UTF-8     -> "\xNN" per byte
//
// Valid UTF-8 (accents, CJK, ...) and backslashes pass through unchanged.
// Header-only so that the data libraries, which do not link the core, share it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice {

namespace text_escape_detail {

inline void append_hex(std::string& out, unsigned char c) {
  static const char kDigits[] = "0123456789abcdef";
  out += "\\x";
  out += kDigits[c >> 4];
  out += kDigits[c & 15];
}

// Length of the valid UTF-8 sequence at s[i] (2..4), or 0 when it is not one.
inline size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  size_t n = 0;
  uint32_t cp = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2, cp = c & 0x1fu;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3, cp = c & 0x0fu;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4, cp = c & 0x07u;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3fu);
  }
  const bool overlong = (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
  const bool surrogate = cp >= 0xd800 && cp <= 0xdfff;
  if (overlong || surrogate || cp > 0x10ffff) return 0;
  return n;
}

}  // namespace text_escape_detail

inline std::string printable(std::string_view s) {
  using text_escape_detail::append_hex;
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
      ++i;
    } else if (c == '\n' || c == '\r' || c == '\t') {
      out += c == '\n' ? "\\n" : c == '\r' ? "\\r" : "\\t";
      ++i;
    } else if (c < 0x80) {  // other C0 controls and DEL
      append_hex(out, c);
      ++i;
    } else if (const size_t n = text_escape_detail::utf8_sequence_length(s, i); n == 0) {
      append_hex(out, c);
      ++i;
    } else if (c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0) {  // C1 control
      append_hex(out, c);
      append_hex(out, static_cast<unsigned char>(s[i + 1]));
      i += 2;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace sluice
