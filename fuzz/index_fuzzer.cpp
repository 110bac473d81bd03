// Fuzz target: the dataset index parsers (stages/data/celeba_index.*) and the
// index source stages built on them (stages/data/index_sources.cpp).
//
// Feeds: an input of the form
//   MODE\n FILE1 [\n%%\n FILE2]
// where MODE is one of
//   kaggle    FILE1 -> list_attr_celeba.csv, FILE2 -> list_eval_partition.csv
//   original  FILE1 -> list_attr_celeba.txt, FILE2 -> list_eval_partition.txt
//   csv       FILE1 -> list.csv (columns path,label)
//   csv-split FILE1 -> list.csv (columns path,label,split; split_column = "split")
// The files are written to a scratch folder in /dev/shm and read through the
// public entry points, load_celeba_index / load_csv_index, then through the
// celeba.index / csv.index stage factories exactly as a pipeline builds them.
//
// Checks: malformed files raise IndexError (or std::invalid_argument from the
// stage's own checks), nothing else; a parsed index is consistent (labels
// within the class names, one value per extra attribute, rows within the file).
#include <cstdint>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <variant>

#include "fuzz/check.h"
#include "fuzz/temp_file.h"
#include "pipeline/registry.h"
#include "stages/builtin.h"
#include "stages/data/celeba_index.h"

namespace {

using sluice::data::DatasetIndex;
using sluice::fuzz::check;
using sluice::fuzz::scratch;

const sluice::Registry& registry() {
  static const sluice::Registry r = [] {
    sluice::Registry reg;
    sluice::register_builtin_stages(reg);
    return reg;
  }();
  return r;
}

// The stage's parameters at their defaults, then `set` on top: what validate()
// hands the factory for a config that sets only those keys.
sluice::Params stage_params(const std::string& stage,
                            const std::map<std::string, sluice::ParamValue>& set) {
  const sluice::StageEntry* entry = registry().find(stage);
  check(entry != nullptr, "no stage " + stage);
  sluice::Params p;
  for (const auto& spec : entry->spec.params) {
    if (!std::holds_alternative<std::monostate>(spec.default_value)) {
      p.set(spec.name, spec.default_value);
    }
  }
  for (const auto& [k, v] : set) p.set(k, v);
  return p;
}

void build_stage(const std::string& stage, const sluice::Params& p) {
  try {
    registry().find(stage)->factory(p);
  } catch (const sluice::data::IndexError&) {
  } catch (const std::invalid_argument&) {
  }
}

void check_index(const DatasetIndex& index, size_t extra_attributes) {
  for (const auto& s : index.samples) {
    check(s.label >= 0 && static_cast<size_t>(s.label) < index.class_names.size(),
          "label " + std::to_string(s.label) + " outside " +
              std::to_string(index.class_names.size()) + " class names");
    check(s.attrs.size() == extra_attributes, "wrong number of attribute values");
    check(s.index >= 0, "negative sample index");
    check(!s.path.empty() && !s.id.empty(), "sample without a path or id");
  }
}

void fuzz_celeba(const std::string& dir_name, bool kaggle, const std::string& attr,
                 const std::string& partition) {
  const std::string dir = scratch().path() + "/" + dir_name;
  std::filesystem::create_directories(dir);
  const std::string ext = kaggle ? ".csv" : ".txt";
  scratch().write(dir_name + "/list_attr_celeba" + ext, attr);
  scratch().write(dir_name + "/list_eval_partition" + ext, partition);
  sluice::data::CelebaOptions o;
  o.root = dir;
  o.label = "Male";
  o.attributes = {"Young", "Eyeglasses"};
  try {
    check_index(sluice::data::load_celeba_index(o), o.attributes.size());
  } catch (const sluice::data::IndexError&) {
  }
  build_stage("celeba.index",
              stage_params("celeba.index", {{"root", dir},
                                            {"split", std::vector<std::string>{"all"}},
                                            {"attributes", o.attributes}}));
}

void fuzz_csv(const std::string& text, bool with_split) {
  const std::string file = scratch().write("list.csv", text);
  sluice::data::CsvIndexOptions o;
  o.file = file;
  if (with_split) o.split_column = "split";
  try {
    check_index(sluice::data::load_csv_index(o), 0);
  } catch (const sluice::data::IndexError&) {
  }
  std::map<std::string, sluice::ParamValue> set = {{"file", file}};
  if (with_split) set["split_column"] = std::string("split");
  build_stage("csv.index", stage_params("csv.index", set));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nl = input.find('\n');
  if (nl == std::string::npos) return 0;
  const std::string mode = input.substr(0, nl);
  const std::string rest = input.substr(nl + 1);
  const size_t sep = rest.find("\n%%\n");
  const std::string first = rest.substr(0, sep);
  const std::string second = sep == std::string::npos ? std::string() : rest.substr(sep + 4);
  if (mode == "kaggle") {
    fuzz_celeba("kaggle", true, first, second);
  } else if (mode == "original") {
    fuzz_celeba("original", false, first, second);
  } else if (mode == "csv") {
    fuzz_csv(first, false);
  } else if (mode == "csv-split") {
    fuzz_csv(first, true);
  }
  return 0;
}
