// Dataset indexes: CelebA attribute files (Kaggle CSV and original TXT layouts)
// and generic CSV files; image folders are in dir_index.h.
//
// An index is the full, stable list of samples of a dataset; Sample::index is the
// row number and never changes with the split filter, so augmentation randomness
// keyed on it is the same whatever subset is read. Malformed files raise
// IndexError whose message reads "FILE:LINE: error: ...".
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "vision/payloads.h"

namespace sluice::data {

class IndexError : public std::runtime_error {
 public:
  IndexError(const std::string& file, int64_t line, const std::string& message);
  const std::string& file() const { return file_; }
  int64_t line() const { return line_; }

 private:
  std::string file_;
  int64_t line_;
};

// The 40 CelebA attribute names in file order.
const std::vector<std::string>& celeba_attribute_names();

// celeba.index's `label` list as attribute names: "all" stands for the 40
// attributes in file order. One name is a binary label, several a multi-label one.
std::vector<std::string> celeba_label_attributes(const std::vector<std::string>& label);

// Split names in partition order: 0 train, 1 validation, 2 test.
const std::vector<std::string>& celeba_split_names();

enum class CelebaLayout { kKaggle, kOriginal };

struct CelebaOptions {
  std::string root;                     // dataset root folder
  std::string label = "Male";           // attribute used as the 0/1 label
  std::vector<std::string> splits;      // empty: all splits
  std::vector<std::string> attributes;  // extra attributes carried per sample
};

struct DatasetIndex {
  std::vector<Sample> samples;  // in file order
  // Label id -> name. For a CSV index with integer labels: the distinct values
  // seen, in increasing order (the label is the value itself).
  std::vector<std::string> class_names;
  std::string description;           // e.g. "CelebA (Kaggle layout) at ROOT"
  std::vector<std::string> skipped;  // entries left out while listing: "PATH: why"
};

// Which layout the folder holds; throws IndexError (line 0) when neither.
CelebaLayout detect_celeba_layout(const std::string& root);

// Reads the attribute and partition files of either layout.
DatasetIndex load_celeba_index(const CelebaOptions& options);
// A multi-label index: each sample's Sample::label_values holds the 0/1 values of
// `multi_label`'s attributes (options.label is then unused).
DatasetIndex load_celeba_index(const CelebaOptions& options,
                               const std::vector<std::string>& multi_label);

struct CsvIndexOptions {
  std::string file;        // the CSV file, with a header line
  std::string image_root;  // base for relative paths; default: the CSV's folder
  std::string path_column = "path";
  std::string label_column = "label";
  std::string split_column;         // optional: a column naming each row's split
  std::vector<std::string> splits;  // with split_column: keep only these
};

// Generic CSV (csv_rows.h: quoted fields, BOM): labels are integers (all
// digits, in int64 range), or class names mapped to sorted ids.
DatasetIndex load_csv_index(const CsvIndexOptions& options);

// Splits `text` into lines, dropping a trailing '\r' from each (CRLF or LF).
std::vector<std::string> split_lines(std::string_view text);

// The attribute names of a CelebA folder, read from the attribute file's header
// alone (cheap enough for `sluice check`). Throws the IndexError load_celeba_index
// would for a missing folder, an unknown layout or a malformed header.
struct CelebaHeader {
  std::string file;  // the attribute file
  int64_t line = 1;  // the header's line
  std::vector<std::string> names;
};
CelebaHeader read_celeba_header(const std::string& root);

// Throws load_celeba_index's IndexError ("unknown label attribute 'Mal' (did you
// mean 'Male'?)") when `name` is not one of the header's attributes.
void require_celeba_column(const CelebaHeader& header, const std::string& name, const char* what);

}  // namespace sluice::data
