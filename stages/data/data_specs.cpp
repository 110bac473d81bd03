#include "stages/data/data_specs.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "pipeline/file_read.h"
#include "pipeline/suggest.h"
#include "stages/data/celeba_index.h"
#include "stages/data/csv_rows.h"
#include "stages/data/dir_index.h"
#include "stages/data/validation_split.h"
#include "vision/payloads.h"

namespace sluice::data {
namespace fs = std::filesystem;

namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

std::vector<std::string> split_on(const std::string& line, char sep) {
  std::vector<std::string> out;
  if (sep == ' ') {
    std::istringstream ss(line);
    std::string tok;
    while (ss >> tok) out.push_back(tok);
    return out;
  }
  size_t start = 0;
  while (true) {
    const size_t at = line.find(sep, start);
    out.push_back(trim(line.substr(start, at - start)));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  return out;
}

std::string column_list(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < 8; ++i) out += (i ? ", " : "") + names[i];
  return names.size() > 8 ? out + ", ..." : out;
}

// Reports `name` (parameter `key`) missing from the columns of `file`.
bool require_column(const std::vector<std::string>& columns, const std::string& name,
                    const std::string& key, const std::string& file, SpecContext& ctx) {
  if (std::find(columns.begin(), columns.end(), name) != columns.end()) return true;
  ctx.error(key, "'" + name + "' is not a column of " + file +
                     did_you_mean(closest_names(name, columns)) +
                     " (columns: " + column_list(columns) + ")");
  return false;
}

const char* file_type_text(fs::file_type type) {
  switch (type) {
    case fs::file_type::directory:
      return "a directory";
    case fs::file_type::fifo:
      return "a FIFO (named pipe)";
    case fs::file_type::character:
      return "a character device";
    case fs::file_type::block:
      return "a block device";
    case fs::file_type::socket:
      return "a socket";
    default:
      return "not a regular file";
  }
}

// Only a regular file is opened at check time: a FIFO would block the check,
// a device such as /dev/zero would never end.
bool regular_file(const std::string& file, const char* what, const std::string& key,
                  SpecContext& ctx) {
  std::error_code ec;
  const fs::file_status st = fs::status(file, ec);
  if (ec || !fs::exists(st)) {
    ctx.error(key, "cannot open " + file + " (the " + what + "): no such file");
    return false;
  }
  if (!fs::is_regular_file(st)) {
    ctx.error(key,
              file + ": the " + what + " is " + file_type_text(st.type()) + ", not a regular file");
    return false;
  }
  return true;
}

// The attribute names of a CelebA attribute file: the CSV header after
// image_id, or the TXT file's second line.
std::vector<std::string> celeba_attribute_header(const std::string& file, bool csv) {
  std::ifstream in(file);
  std::string line;
  if (!std::getline(in, line)) return {};
  if (csv) {
    auto names = split_on(trim(line), ',');
    if (!names.empty()) names.erase(names.begin());
    return names;
  }
  if (!std::getline(in, line)) return {};
  return split_on(line, ' ');
}

std::vector<std::string> celeba_splits(const std::vector<std::string>& requested) {
  std::vector<std::string> out;
  for (const auto& s : requested) {
    if (s == "all") {
      out.insert(out.end(), celeba_split_names().begin(), celeba_split_names().end());
    } else {
      out.push_back(s);
    }
  }
  return out;
}

void set_stream(const Params& p, std::vector<std::string> splits, ElementSpec& out) {
  out.epochs = p.get_int("epochs");
  out.splits = std::move(splits);
}

// The element all inputs share; a label they disagree on becomes unknown.
ElementSpec merged_input(const std::vector<ElementSpec>& in) {
  if (in.empty()) return {};
  ElementSpec out = in.front();
  for (const auto& other : in) {
    const bool same = other.label.has_value() == out.label.has_value() &&
                      (!out.label || other.label->to_string() == out.label->to_string());
    if (!same) out.label.reset();
  }
  return out;
}

}  // namespace

std::vector<std::string> celeba_class_names(const std::string& attribute) {
  if (attribute == "Male") return {"Female", "Male"};  // CelebA's -1 for Male
  return {"not " + attribute, attribute};
}

ElementSpec celeba_index_spec(const Params& p, SpecContext& ctx) {
  ElementSpec out;
  out.type = payload_name<Sample>();
  const std::vector<std::string> labels = celeba_label_attributes(p.get_strings("label"));
  const std::string& label = labels.front();
  std::vector<std::string> names = p.get_strings("class_names");
  if (labels.size() > 1) {
    LabelSpec multi;
    multi.kind = LabelSpec::Kind::kMultiLabel;
    multi.attribute = "attributes";
    multi.names = labels;
    multi.from_stage = ctx.stage_id();
    multi.from_param = "label";
    out.label = multi;
    if (!names.empty()) {
      ctx.error("class_names",
                "class_names: name the two classes of a binary label; a multi-label label is "
                "named by its attributes");
    }
  } else if (names.empty()) {
    out.label = LabelSpec::from_classes(label, celeba_class_names(label), ctx.stage_id(), "label");
  } else if (names.size() == 2 && names[0] != names[1]) {
    out.label = LabelSpec::from_classes(label, std::move(names), ctx.stage_id(), "class_names");
  } else {
    ctx.error("class_names",
              "class_names: give two different names, of label 0 then label 1, "
              "e.g. [\"not " +
                  label + "\", \"" + label + "\"]");
    out.label = LabelSpec::from_classes(label, celeba_class_names(label), ctx.stage_id(), "label");
  }
  out.attributes = p.get_strings("attributes");
  set_stream(p, celeba_splits(p.get_strings("split")), out);

  const fs::path root(p.get_string("root"));
  const bool csv = fs::exists(root / "list_attr_celeba.csv");
  const fs::path file = root / (csv ? "list_attr_celeba.csv" : "list_attr_celeba.txt");
  if (!csv && !fs::exists(file)) {
    ctx.error("root", fs::is_directory(root)
                          ? "no list_attr_celeba.csv (Kaggle layout) or list_attr_celeba.txt "
                            "(original layout) in " +
                                root.string()
                          : "dataset root " + root.string() + " is not a directory");
    return out;
  }
  if (!regular_file(file.string(), "attribute file", "root", ctx)) return out;
  const auto columns = celeba_attribute_header(file.string(), csv);
  if (columns.empty()) {
    ctx.error("root", file.string() + ": no attribute names in its header");
    return out;
  }
  for (const auto& l : labels) require_column(columns, l, "label", file.string(), ctx);
  for (const auto& a : out.attributes) require_column(columns, a, "attributes", file.string(), ctx);
  return out;
}

ElementSpec dir_index_spec(const Params& p, SpecContext& ctx) {
  ElementSpec out;
  out.type = payload_name<Sample>();
  const DirIndexPlan plan = plan_directory_index(dir_index_options(p));
  set_stream(p, plan.splits(), out);
  for (const DirIndexProblem& problem : plan.problems) ctx.error(problem.key, problem.text());
  if (!plan.problems.empty() || !p.get_bool("labels")) return out;  // unlabeled: no label
  const std::vector<std::string> classes = directory_class_names(plan);
  if (classes.empty()) {
    ctx.error("root", "no class sub-folders in " + joined(plan.class_roots));
    return out;
  }
  const std::string attribute = classes.size() == 2 ? classes[1] : "class folder";
  out.label = LabelSpec::from_classes(attribute, classes, ctx.stage_id(), "root");
  return out;
}

ElementSpec csv_index_spec(const Params& p, SpecContext& ctx) {
  ElementSpec out;
  out.type = payload_name<Sample>();
  const std::string& file = p.get_string("file");
  const std::string& split_column = p.get_string("split_column");
  std::vector<std::string> splits = p.get_strings("split");
  if (split_column.empty()) {
    splits = p.get_float("validation_split") > 0 ? validation_split_subsets(splits)
                                                 : std::vector<std::string>{"train"};
  }
  set_stream(p, splits, out);
  if (!regular_file(file, "CSV index", "file", ctx)) return out;
  // The whole file when it is small enough to scan, else its first line.
  std::error_code ec;
  const bool scan = fs::file_size(file, ec) <= kSpecScanLimitBytes && !ec;
  std::string text;
  if (scan) {
    text = read_regular_file(file, kSpecScanLimitBytes, "CSV index");
  } else {
    std::ifstream in(file);
    std::getline(in, text);
  }
  CsvRows rows(strip_bom(text), file);
  CsvRecord record;
  if (!rows.next(record)) {
    ctx.error("file", file + ": cannot read a header line");
    return out;
  }
  const std::vector<std::string> header = record.fields;
  bool ok = require_column(header, p.get_string("path_column"), "path_column", file, ctx);
  ok = require_column(header, p.get_string("label_column"), "label_column", file, ctx) && ok;
  if (!split_column.empty())
    ok = require_column(header, split_column, "split_column", file, ctx) && ok;
  if (!ok || !scan) return out;
  // Mirrors load_csv_index: the classes are the distinct labels, integers in
  // numeric order, names in sorted order.
  const auto label_col = static_cast<size_t>(
      std::find(header.begin(), header.end(), p.get_string("label_column")) - header.begin());
  const auto split_col =
      static_cast<size_t>(std::find(header.begin(), header.end(), split_column) - header.begin());
  std::set<std::string> names;
  std::vector<std::string> seen_splits;
  bool all_int = true;
  std::set<std::pair<size_t, std::string>> integers;  // (digits, text): numeric order
  while (rows.next(record)) {
    const std::vector<std::string>& row = record.fields;
    if (row.size() != header.size() || row[label_col].empty()) continue;
    const std::string& v = row[label_col];
    names.insert(v);
    if (v.find_first_not_of("0123456789") != std::string::npos) {
      all_int = false;
    } else {
      const std::string digits = v.substr(std::min(v.find_first_not_of('0'), v.size() - 1));
      integers.emplace(digits.size(), digits);
    }
    if (!split_column.empty() &&
        std::find(seen_splits.begin(), seen_splits.end(), row[split_col]) == seen_splits.end()) {
      seen_splits.push_back(row[split_col]);
    }
  }
  if (!split_column.empty() && splits.empty()) splits = seen_splits;
  set_stream(p, splits, out);
  std::vector<std::string> classes;
  if (all_int) {
    for (const auto& [size, digits] : integers) classes.push_back(digits);
  } else {
    classes.assign(names.begin(), names.end());
  }
  if (!classes.empty()) {
    out.label = LabelSpec::from_classes(p.get_string("label_column"), classes, ctx.stage_id(),
                                        "label_column");
  }
  return out;
}

ElementSpec decode_spec(const Params&, const std::vector<ElementSpec>& in, SpecContext&) {
  ElementSpec out = merged_input(in);
  out.type = payload_name<Image>();
  out.batch_size = 0;
  out.image = ImageSpec{};
  out.image->channels = 3;  // decode_image_file converts to RGB
  return out;
}

ElementSpec augment_spec(const Params& p, const std::vector<ElementSpec>& in, SpecContext& ctx) {
  ElementSpec out = merged_input(in);
  ImageSpec image;
  image.width = static_cast<int>(p.get_int("width"));
  image.height = static_cast<int>(p.get_int("height"));
  image.channels = out.image ? out.image->channels : 0;  // the warp keeps the channels
  image.size_from = ctx.stage_id();
  // As AugmentStage's constructor: normalize wins, else a non-zero rescale.
  if (p.get_string("normalize") == "imagenet") {
    image.normalization.kind = Normalization::Kind::kMeanStd;
    const double mean[3] = {0.485, 0.456, 0.406}, std[3] = {0.229, 0.224, 0.225};
    for (int c = 0; c < 3; ++c) {
      image.normalization.mean[c] = mean[c];
      image.normalization.std[c] = std[c];
    }
    image.normalization_name = "imagenet";
  } else if (p.get_float("rescale") != 0.0) {
    image.normalization.kind = Normalization::Kind::kRescale;
    image.normalization.scale = p.get_float("rescale");
  }
  out.type = payload_name<Image>();
  out.image = image;
  return out;
}

ElementSpec batch_spec(const Params& p, const std::vector<ElementSpec>& in, SpecContext&) {
  ElementSpec out = merged_input(in);
  out.type = payload_name<Batch>();
  out.batch_size = p.get_int("batch_size");
  return out;
}

}  // namespace sluice::data
