#include "stages/data/celeba_index.h"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <unordered_map>

#include "pipeline/file_read.h"
#include "pipeline/text_escape.h"
#include "stages/data/csv_rows.h"

namespace sluice::data {
namespace fs = std::filesystem;

namespace {

std::string read_text_file(const std::string& path) {
  std::string text;
  const FileReadResult r = try_read_regular_file(path, kMaxIndexBytes, "index file", text);
  if (!r.ok()) throw IndexError(path, 0, r.reason);
  return text;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

bool blank(const std::string& s) { return s.find_first_not_of(" \t") == std::string::npos; }

std::vector<std::string> split_spaces(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream ss(line);
  std::string tok;
  while (ss >> tok) out.push_back(tok);
  return out;
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Levenshtein distance, for "did you mean" on attribute names.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (ascii_lower(a[i - 1]) == ascii_lower(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string did_you_mean(const std::string& name, const std::vector<std::string>& names) {
  std::string best;
  size_t best_d = std::max<size_t>(3, name.size() / 3) + 1;
  for (const auto& n : names) {
    size_t d = edit_distance(name, n);
    if (d < best_d) {
      best_d = d;
      best = n;
    }
  }
  return best.empty() ? std::string() : " (did you mean '" + best + "'?)";
}

int find_column(const std::vector<std::string>& names, const std::string& name,
                const std::string& file, int64_t line, const char* what) {
  auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) {
    throw IndexError(
        file, line, std::string("unknown ") + what + " '" + name + "'" + did_you_mean(name, names));
  }
  return static_cast<int>(it - names.begin());
}

// Data values quoted in messages: printable, so a newline or escape sequence
// in a file cannot split or recolour the error line.
std::string in_quotes(const std::string& value) { return "'" + printable(value) + "'"; }

// A NUL byte would silently cut the path at the first system call.
void reject_nul(const std::string& value, const char* what, const std::string& file, int64_t line) {
  if (value.find('\0') != std::string::npos) {
    throw IndexError(file, line,
                     std::string(what) + " " + in_quotes(value) + " contains a NUL byte");
  }
}

// Rejects an id already seen, naming both lines.
void reject_duplicate(std::unordered_map<std::string, int64_t>& seen, const std::string& id,
                      const std::string& file, int64_t line) {
  auto [it, fresh] = seen.emplace(id, line);
  if (!fresh) {
    throw IndexError(file, line,
                     "image id " + in_quotes(id) + " listed twice: on line " +
                         std::to_string(it->second) + " and on line " + std::to_string(line));
  }
}

// A decimal integer (optional leading '-'), the whole token, in int64_t range.
bool parse_int64(const std::string& tok, int64_t& out) {
  const char* end = tok.data() + tok.size();
  auto [ptr, ec] = std::from_chars(tok.data(), end, out);
  return ec == std::errc() && ptr == end && !tok.empty();
}

struct AttributeTable {
  std::vector<std::string> names;  // the 40 attribute names
  std::vector<std::string> ids;
  std::vector<int64_t> lines;  // 1-based line of each row
  std::vector<int8_t> values;  // ids.size() x names.size()
  int64_t header_line = 1;
  std::unordered_map<std::string, int64_t> id_lines;  // id -> line, to refuse duplicates
};

int8_t parse_pm1(const std::string& tok, const std::string& file, int64_t line,
                 const std::string& column) {
  if (tok == "1") return 1;
  if (tok == "-1") return -1;
  throw IndexError(file, line,
                   "value " + in_quotes(tok) + " of attribute '" + column + "' is not 1 or -1");
}

// One row (image id, then one value per attribute name) into `t`, checking
// the column count, the id and the values.
void append_row(AttributeTable& t, const std::vector<std::string>& row, const std::string& file,
                int64_t ln) {
  const size_t cols = t.names.size() + 1;
  if (row.size() != cols) {
    throw IndexError(
        file, ln,
        "expected " + std::to_string(cols) + " columns, found " + std::to_string(row.size()));
  }
  reject_nul(row[0], "image id", file, ln);
  reject_duplicate(t.id_lines, row[0], file, ln);
  t.ids.push_back(row[0]);
  t.lines.push_back(ln);
  for (size_t c = 1; c < cols; ++c) t.values.push_back(parse_pm1(row[c], file, ln, t.names[c - 1]));
}

AttributeTable read_attributes_csv(const std::string& file) {
  AttributeTable t;
  const std::string text = read_text_file(file);
  CsvRows rows(text, file);
  CsvRecord rec;
  if (!rows.next(rec) || rec.line != 1) throw IndexError(file, 1, "missing header line");
  const auto& header = rec.fields;
  if (header.size() < 2 || header[0] != "image_id") {
    throw IndexError(file, 1, "header must start with 'image_id', found " + in_quotes(header[0]));
  }
  t.names.assign(header.begin() + 1, header.end());
  t.header_line = 1;
  while (rows.next(rec)) append_row(t, rec.fields, file, rec.line);
  return t;
}

// The original layout's first line disagrees with its rows (a truncated copy, or
// rows cut without fixing the count).
std::string count_mismatch(int64_t count, int64_t rows) {
  return "count line says " + std::to_string(count) + " images but " + std::to_string(rows) +
         " rows follow (a truncated copy? if the rows are all you have, make the first "
         "line " +
         std::to_string(rows) + ")";
}

AttributeTable read_attributes_txt(const std::string& file) {
  AttributeTable t;
  const std::string text = read_text_file(file);
  auto lines = split_lines(strip_bom(text));
  if (lines.size() < 2)
    throw IndexError(file, static_cast<int64_t>(lines.size()) + 1,
                     "expected a count line and a line of attribute names");
  int64_t count = -1;
  {
    auto tok = split_spaces(lines[0]);
    if (tok.size() != 1 || !parse_int64(tok[0], count) || count < 0) {
      throw IndexError(file, 1,
                       "first line must be the image count, found " + in_quotes(trim(lines[0])));
    }
  }
  t.names = split_spaces(lines[1]);
  t.header_line = 2;
  if (t.names.empty()) throw IndexError(file, 2, "missing attribute names");
  for (size_t i = 2; i < lines.size(); ++i) {
    if (!blank(lines[i])) append_row(t, split_spaces(lines[i]), file, static_cast<int64_t>(i) + 1);
  }
  if (static_cast<int64_t>(t.ids.size()) != count) {
    throw IndexError(file, 1, count_mismatch(count, static_cast<int64_t>(t.ids.size())));
  }
  return t;
}

// One partition row (image id, 0/1/2) into `out`.
void add_partition_row(std::unordered_map<std::string, int>& out,
                       std::unordered_map<std::string, int64_t>& id_lines,
                       const std::vector<std::string>& row, const std::string& file, int64_t ln) {
  if (row.size() != 2) {
    throw IndexError(file, ln, "expected 2 columns, found " + std::to_string(row.size()));
  }
  if (row[1] != "0" && row[1] != "1" && row[1] != "2") {
    throw IndexError(file, ln, "partition " + in_quotes(row[1]) + " is not 0, 1 or 2");
  }
  reject_nul(row[0], "image id", file, ln);
  reject_duplicate(id_lines, row[0], file, ln);
  out.emplace(row[0], row[1][0] - '0');
}

// id -> partition number (0, 1, 2)
std::unordered_map<std::string, int> read_partition(const std::string& file, bool csv) {
  std::unordered_map<std::string, int> out;
  std::unordered_map<std::string, int64_t> id_lines;
  const std::string text = read_text_file(file);
  if (csv) {
    CsvRows rows(text, file);
    CsvRecord rec;
    if (!rows.next(rec) || rec.line != 1) throw IndexError(file, 1, "missing header line");
    const auto& header = rec.fields;
    if (header.size() != 2 || header[0] != "image_id" || header[1] != "partition") {
      throw IndexError(file, 1, "header must be 'image_id,partition'");
    }
    while (rows.next(rec)) add_partition_row(out, id_lines, rec.fields, file, rec.line);
    return out;
  }
  auto lines = split_lines(strip_bom(text));
  for (size_t i = 0; i < lines.size(); ++i) {
    if (blank(lines[i])) continue;
    add_partition_row(out, id_lines, split_spaces(lines[i]), file, static_cast<int64_t>(i) + 1);
  }
  return out;
}

}  // namespace

IndexError::IndexError(const std::string& file, int64_t line, const std::string& message)
    : std::runtime_error(file + (line > 0 ? ":" + std::to_string(line) : std::string()) +
                         ": error: " + message),
      file_(file),
      line_(line) {}

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    size_t len = end - start;
    if (len > 0 && text[end - 1] == '\r') --len;
    lines.emplace_back(text.substr(start, len));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return lines;
}

const std::vector<std::string>& celeba_attribute_names() {
  static const std::vector<std::string> kNames = {"5_o_Clock_Shadow",
                                                  "Arched_Eyebrows",
                                                  "Attractive",
                                                  "Bags_Under_Eyes",
                                                  "Bald",
                                                  "Bangs",
                                                  "Big_Lips",
                                                  "Big_Nose",
                                                  "Black_Hair",
                                                  "Blond_Hair",
                                                  "Blurry",
                                                  "Brown_Hair",
                                                  "Bushy_Eyebrows",
                                                  "Chubby",
                                                  "Double_Chin",
                                                  "Eyeglasses",
                                                  "Goatee",
                                                  "Gray_Hair",
                                                  "Heavy_Makeup",
                                                  "High_Cheekbones",
                                                  "Male",
                                                  "Mouth_Slightly_Open",
                                                  "Mustache",
                                                  "Narrow_Eyes",
                                                  "No_Beard",
                                                  "Oval_Face",
                                                  "Pale_Skin",
                                                  "Pointy_Nose",
                                                  "Receding_Hairline",
                                                  "Rosy_Cheeks",
                                                  "Sideburns",
                                                  "Smiling",
                                                  "Straight_Hair",
                                                  "Wavy_Hair",
                                                  "Wearing_Earrings",
                                                  "Wearing_Hat",
                                                  "Wearing_Lipstick",
                                                  "Wearing_Necklace",
                                                  "Wearing_Necktie",
                                                  "Young"};
  return kNames;
}

std::vector<std::string> celeba_label_attributes(const std::vector<std::string>& label) {
  std::vector<std::string> out;
  for (const auto& name : label) {
    const auto& all = name == "all" ? celeba_attribute_names() : std::vector<std::string>{name};
    for (const auto& a : all) {
      if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
    }
  }
  return out;
}

const std::vector<std::string>& celeba_split_names() {
  static const std::vector<std::string> kSplits = {"train", "validation", "test"};
  return kSplits;
}

CelebaLayout detect_celeba_layout(const std::string& root) {
  if (fs::exists(fs::path(root) / "list_attr_celeba.csv")) return CelebaLayout::kKaggle;
  if (fs::exists(fs::path(root) / "list_attr_celeba.txt")) return CelebaLayout::kOriginal;
  if (!fs::is_directory(root)) throw IndexError(root, 0, "dataset root is not a directory");
  throw IndexError(root, 0,
                   "no list_attr_celeba.csv (Kaggle layout) or list_attr_celeba.txt (original "
                   "layout) in this folder");
}

DatasetIndex load_celeba_index(const CelebaOptions& options) {
  return load_celeba_index(options, {});
}

DatasetIndex load_celeba_index(const CelebaOptions& options,
                               const std::vector<std::string>& multi_label) {
  const fs::path root(options.root);
  const CelebaLayout layout = detect_celeba_layout(options.root);
  const bool csv = layout == CelebaLayout::kKaggle;
  const std::string attr_file =
      (root / (csv ? "list_attr_celeba.csv" : "list_attr_celeba.txt")).string();
  const std::string part_file =
      (root / (csv ? "list_eval_partition.csv" : "list_eval_partition.txt")).string();
  fs::path image_dir = root / "img_align_celeba";
  if (csv && fs::is_directory(image_dir / "img_align_celeba")) image_dir /= "img_align_celeba";

  for (const auto& s : options.splits) {
    const auto& names = celeba_split_names();
    if (s != "all" && std::find(names.begin(), names.end(), s) == names.end()) {
      throw std::invalid_argument("unknown split '" + s +
                                  "' (expected train, validation, test or all)");
    }
  }
  const bool all = options.splits.empty() || std::find(options.splits.begin(), options.splits.end(),
                                                       "all") != options.splits.end();

  AttributeTable table = csv ? read_attributes_csv(attr_file) : read_attributes_txt(attr_file);
  const bool multi = !multi_label.empty();
  const int label_col = multi ? -1
                              : find_column(table.names, options.label, attr_file,
                                            table.header_line, "label attribute");
  std::vector<int> label_cols;
  for (const auto& a : multi_label) {
    label_cols.push_back(
        find_column(table.names, a, attr_file, table.header_line, "label attribute"));
  }
  std::vector<int> extra_cols;
  for (const auto& a : options.attributes) {
    extra_cols.push_back(find_column(table.names, a, attr_file, table.header_line, "attribute"));
  }
  auto partition = read_partition(part_file, csv);

  DatasetIndex index;
  index.class_names =
      multi ? multi_label : std::vector<std::string>{"not " + options.label, options.label};
  index.description =
      std::string("CelebA (") + (csv ? "Kaggle" : "original") + " layout) at " + options.root;
  auto attr_names = std::make_shared<const std::vector<std::string>>(options.attributes);
  const size_t ncols = table.names.size();
  const std::string attr_base = fs::path(attr_file).filename().string();
  index.samples.reserve(table.ids.size());
  for (size_t i = 0; i < table.ids.size(); ++i) {
    auto it = partition.find(table.ids[i]);
    if (it == partition.end()) {
      throw IndexError(attr_file, table.lines[i],
                       "image id " + in_quotes(table.ids[i]) + " is missing from " + part_file);
    }
    const std::string& split = celeba_split_names()[it->second];
    if (!all &&
        std::find(options.splits.begin(), options.splits.end(), split) == options.splits.end()) {
      continue;
    }
    Sample s;
    s.index = static_cast<int64_t>(i);
    s.split = split;
    s.id = table.ids[i];
    s.path = (image_dir / table.ids[i]).string();
    const int8_t* row = &table.values[i * ncols];
    if (multi) {
      for (int c : label_cols) s.label_values.push_back(row[c] > 0 ? 1 : 0);
    } else {
      s.label = row[label_col] > 0 ? 1 : 0;
    }
    s.attr_names = attr_names;
    for (int c : extra_cols) s.attrs.push_back(row[c]);
    s.origin = attr_base + ":" + std::to_string(table.lines[i]);
    index.samples.push_back(std::move(s));
  }
  return index;
}

namespace {

struct CsvIndexRow {
  std::string path, label, split;
  int64_t line;
};

// Integer labels (every label all digits): class_names lists the distinct values
// seen, in increasing order, and each label becomes its value's position there
// (so labels 0..N-1 keep their value, and sparse ones such as 3 and 7 become 0
// and 1, named "3" and "7").
std::vector<int64_t> integer_labels(const std::vector<CsvIndexRow>& rows, const std::string& file,
                                    const std::string& column,
                                    std::vector<std::string>& class_names) {
  std::vector<int64_t> labels;
  labels.reserve(rows.size());
  std::set<int64_t> seen;
  for (const auto& r : rows) {
    int64_t v = 0;
    if (!parse_int64(r.label, v)) {
      throw IndexError(file, r.line,
                       "column '" + column + "': label " + in_quotes(r.label) +
                           " is not an integer in [0, " +
                           std::to_string(std::numeric_limits<int64_t>::max()) + "]");
    }
    labels.push_back(v);
    seen.insert(v);
  }
  std::map<int64_t, int64_t> class_ids;
  for (int64_t v : seen) {
    class_ids[v] = static_cast<int64_t>(class_names.size());
    class_names.push_back(std::to_string(v));
  }
  for (int64_t& label : labels) label = class_ids[label];
  return labels;
}

// Named labels map to their position among the sorted distinct names.
std::vector<int64_t> named_labels(const std::vector<CsvIndexRow>& rows,
                                  std::vector<std::string>& class_names) {
  std::map<std::string, int64_t> class_ids;
  for (const auto& r : rows) class_ids[r.label] = 0;
  for (auto& [name, id] : class_ids) {
    id = static_cast<int64_t>(class_names.size());
    class_names.push_back(name);
  }
  std::vector<int64_t> labels;
  labels.reserve(rows.size());
  for (const auto& r : rows) labels.push_back(class_ids[r.label]);
  return labels;
}

}  // namespace

DatasetIndex load_csv_index(const CsvIndexOptions& options) {
  const std::string& file = options.file;
  const std::string text = read_text_file(file);
  CsvRows reader(text, file);
  CsvRecord rec;
  if (!reader.next(rec) || rec.line != 1) throw IndexError(file, 1, "missing header line");
  const std::vector<std::string> header = rec.fields;
  const int path_col = find_column(header, options.path_column, file, 1, "path column");
  const int label_col = find_column(header, options.label_column, file, 1, "label column");
  const int split_col = options.split_column.empty()
                            ? -1
                            : find_column(header, options.split_column, file, 1, "split column");
  const fs::path base =
      options.image_root.empty() ? fs::path(file).parent_path() : fs::path(options.image_root);
  std::vector<CsvIndexRow> rows;
  bool all_int = true;
  while (reader.next(rec)) {
    const int64_t ln = rec.line;
    const auto& row = rec.fields;
    if (row.size() != header.size()) {
      throw IndexError(file, ln,
                       "expected " + std::to_string(header.size()) + " columns, found " +
                           std::to_string(row.size()));
    }
    CsvIndexRow r{row[path_col], row[label_col], split_col >= 0 ? row[split_col] : "train", ln};
    if (r.path.empty()) throw IndexError(file, ln, "empty path");
    reject_nul(r.path, "path", file, ln);
    if (r.label.empty()) throw IndexError(file, ln, "empty label");
    if (r.label.find_first_not_of("0123456789") != std::string::npos) all_int = false;
    rows.push_back(std::move(r));
  }
  DatasetIndex index;
  const std::vector<int64_t> labels =
      all_int ? integer_labels(rows, file, options.label_column, index.class_names)
              : named_labels(rows, index.class_names);
  auto attr_names = std::make_shared<const std::vector<std::string>>();
  const std::string file_base = fs::path(file).filename().string();
  for (size_t i = 0; i < rows.size(); ++i) {
    const CsvIndexRow& r = rows[i];
    if (!options.splits.empty() &&
        std::find(options.splits.begin(), options.splits.end(), r.split) == options.splits.end()) {
      continue;
    }
    Sample s;
    s.index = static_cast<int64_t>(i);
    s.split = r.split;
    s.id = r.path;
    fs::path p(r.path);
    s.path = p.is_absolute() ? p.string() : (base / p).string();
    s.label = labels[i];
    s.attr_names = attr_names;
    s.origin = file_base + ":" + std::to_string(r.line);
    index.samples.push_back(std::move(s));
  }
  index.description = "CSV index " + file;
  return index;
}

namespace {

// The original layout's count line against the rows that follow, as
// read_attributes_txt checks it, so that `sluice check` refuses what the run
// would: `in` stands after the attribute names. Rows are counted, not parsed.
void check_count_line(std::istream& in, std::string first, const std::string& file) {
  if (!first.empty() && first.back() == '\r') first.pop_back();
  const auto tok = split_spaces(first);
  int64_t count = -1;
  if (tok.size() != 1 || !parse_int64(tok[0], count) || count < 0) return;  // the run says why
  int64_t rows = 0;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!blank(line)) ++rows;
  }
  if (rows != count) throw IndexError(file, 1, count_mismatch(count, rows));
}

}  // namespace

CelebaHeader read_celeba_header(const std::string& root) {
  const bool csv = detect_celeba_layout(root) == CelebaLayout::kKaggle;
  CelebaHeader h;
  h.file = (fs::path(root) / (csv ? "list_attr_celeba.csv" : "list_attr_celeba.txt")).string();
  h.line = csv ? 1 : 2;
  std::error_code ec;
  const auto type = fs::status(h.file, ec).type();
  if (type != fs::file_type::regular) {  // opening a FIFO would block
    struct stat st {};
    const bool exists = ::stat(h.file.c_str(), &st) == 0;
    throw IndexError(h.file, 0,
                     exists ? std::string("the index file is ") + file_type_name(st.st_mode) +
                                  ", not a regular file"
                            : std::string("cannot open file"));
  }
  std::ifstream in(h.file, std::ios::binary);
  if (!in) throw IndexError(h.file, 0, "cannot open file");
  std::string line, first;
  int64_t read = 0;
  while (read < h.line && std::getline(in, line)) {
    if (++read == 1) first = line;
  }
  if (read < h.line) line.clear();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (!csv) check_count_line(in, first, h.file);
  if (csv) {
    CsvRows rows(line, h.file);  // drops a byte-order mark, reads quoted names
    CsvRecord rec;
    if (!rows.next(rec)) throw IndexError(h.file, 1, "missing header line");
    const std::vector<std::string>& header = rec.fields;
    if (header.size() < 2 || header[0] != "image_id") {
      throw IndexError(h.file, 1,
                       "header must start with 'image_id', found " + in_quotes(header[0]));
    }
    h.names.assign(header.begin() + 1, header.end());
  } else {
    h.names = split_spaces(line);
    if (h.names.empty()) throw IndexError(h.file, 2, "missing attribute names");
  }
  return h;
}

void require_celeba_column(const CelebaHeader& header, const std::string& name, const char* what) {
  find_column(header.names, name, header.file, header.line, what);
}

}  // namespace sluice::data
