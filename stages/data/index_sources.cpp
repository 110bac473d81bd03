// Dataset index sources: emit one Sample per image, epoch after epoch. Within
// an epoch the requested splits come in the order given, each closed by an
// end-of-split marker; an end-of-epoch marker follows. The train split is
// shuffled by (seed, epoch); every split is limited and sharded the same way.
//
// Example config:
//   [stages.index]
//   use = "celeba.index"
//   root = "data/celeba"            # Kaggle or original layout
//   label = "Male"                  # binary; ["Male", "Smiling", ...] or "all": multi-label
//   # class_names = ["Female", "Male"]  # label 0, label 1 (this is the default for Male)
//   split = ["train", "validation"]
//   epochs = 10
//   shuffle = true
//   attributes = ["Young", "Eyeglasses"]
//
//   [stages.index]
//   use = "dir.index"                # one sub-folder per class (Keras flow_from_directory);
//                                    # unreadable entries are skipped, logged and counted
//   root = "data/flowers"
//
//   [stages.index]
//   use = "dir.index"                # data/flowers/train/<class>/, .../validation/<class>/
//   root = "data/flowers"            # read as one source; classes: the union of both
//   split = ["train", "validation"]  # ("val" and "valid" name the validation split too)
//
//   [stages.index]
//   use = "dir.index"                # every image under data/new-photos, recursively,
//   root = "data/new-photos"         # without a label: images to predict
//   labels = false
//
//   [stages.index]
//   use = "dir.index"                # data/flowers/<class>/ cut into train and validation
//   root = "data/flowers"            # (Keras image_dataset_from_directory semantics):
//   validation_split = 0.2           # the last int(0.2 * n) files of a permutation keyed
//   split_seed = 0                   # on split_seed alone are validation, the rest train
//   split = ["train", "validation"]
//
//   [stages.index]
//   use = "csv.index"
//   file = "data/list.csv"
//   path_column = "filename"
//   label_column = "class"
//
// Distributed training: shard_rank/shard_count default to RANK/WORLD_SIZE when the
// launcher sets WORLD_SIZE > 1 (torchrun, Slurm), so each rank reads its own strided
// shard. The train split is padded to equal shards (every rank takes the same number
// of steps; n % world samples repeat); other splits are an exact partition.
//
// Resuming: the sources start at StageContext::start_position() (pipeline/
// data_position.h): the epochs before are skipped, and so are the first items of the
// position's split that the position counts as consumed over all ranks (this shard's
// share of them, counted as resume_skipped), without being emitted or read.
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "pipeline/data_position.h"
#include "pipeline/file_read.h"
#include "pipeline/registry.h"
#include "pipeline/text_escape.h"
#include "stages/data/celeba_index.h"
#include "stages/data/data_specs.h"
#include "stages/data/data_stages.h"
#include "stages/data/dir_index.h"
#include "stages/data/epoch_order.h"
#include "stages/data/launch_env.h"
#include "stages/data/validation_split.h"

namespace sluice::data {
namespace {

std::string shard_problem(int64_t rank, int64_t count) {
  return "shard_rank " + std::to_string(rank) + " must be below shard_count " +
         std::to_string(count);
}

// Ordering shared by the three sources: the samples of each split, in the
// order the splits are requested.
class IndexSource : public Source {
 public:
  IndexSource(const Params& p, DatasetIndex index, std::vector<std::string> splits)
      : index_(std::move(index)), epochs_(p.get_int("epochs")), seed_param_(p.get_int("seed")) {
    order_options_.shuffle = p.get_bool("shuffle");
    order_options_.limit = p.get_int("limit");
    const LaunchEnv launch = launch_env_from_environment();
    order_options_.shard_rank = p.has("shard_rank") ? p.get_int("shard_rank") : launch.rank;
    order_options_.shard_count =
        p.has("shard_count") ? p.get_int("shard_count") : launch.world_size;
    if (order_options_.shard_rank >= order_options_.shard_count) {
      throw std::invalid_argument(
          shard_problem(order_options_.shard_rank, order_options_.shard_count));
    }
    for (const auto& split : splits) {
      std::vector<int64_t> members;
      for (size_t i = 0; i < index_.samples.size(); ++i) {
        if (index_.samples[i].split == split) members.push_back(static_cast<int64_t>(i));
      }
      groups_.push_back({split, std::move(members)});
    }
  }

  void open(StageContext& ctx) override {
    ctx_ = &ctx;
    order_options_.seed = seed_param_ >= 0 ? static_cast<uint64_t>(seed_param_) : ctx.seed();
    // What one epoch emits of each split (after limit and sharding), logged and
    // announced so a trainer downstream knows its totals from the first epoch.
    size_t indexed = 0, total = 0;
    std::string per_split;
    for (const auto& g : groups_) {
      const size_t used = split_order(g, 0).size();
      indexed += g.members.size();
      total += used;
      per_split += (per_split.empty() ? "" : ", ") + g.split + " " + std::to_string(used);
      ctx.announce_split_items(g.split, static_cast<int64_t>(used));
    }
    std::string used_of;
    if (total != indexed) {
      used_of = " (of " + std::to_string(indexed) + " indexed";
      if (order_options_.limit >= 0) used_of += "; limit " + std::to_string(order_options_.limit);
      if (order_options_.shard_count > 1) used_of += "; this shard";
      used_of += ")";
    }
    ctx.log().info("{}: {} samples{} in {} split(s) [{}], {} epoch(s)",
                   printable(index_.description), total, used_of, groups_.size(), per_split,
                   epochs_);
    if (total == 0) ctx.log().warn("{}: the selected splits are empty", index_.description);
    // Entries the listing could not read (a symlink loop, a folder without
    // permission): left out, named and counted, the rest is used.
    for (const std::string& skipped : index_.skipped) {
      ctx.log().warn("{}: skipped {}", printable(index_.description), skipped);
    }
    if (!index_.skipped.empty()) {
      ctx.counter("skipped_entries").add(static_cast<int64_t>(index_.skipped.size()));
    }
    if (order_options_.shard_count > 1) {
      ctx.log().info("reading shard {} of {} (train split padded to equal shards)",
                     order_options_.shard_rank, order_options_.shard_count);
    }
  }

  bool produce(Emitter& out) override {
    if (!positioned_) {  // a resumed trainer may have asked to skip what is done
      positioned_ = true;
      start_ = ctx_->start_position();
      epoch_ = std::min(start_.epoch, epochs_);
      if (epoch_ > 0 && epoch_ >= epochs_) {
        ctx_->log().info("nothing to emit: all {} epoch(s) are done (resume)", epochs_);
      } else if (epoch_ > 0 && !start_.mid_epoch()) {
        ctx_->log().info("starting at epoch {} of {}: the epochs before are done (resume)",
                         epoch_ + 1, epochs_);
      }
    }
    while (epoch_ < epochs_) {
      if (group_ == groups_.size()) {
        out.emit_control(Control{ControlKind::kEndOfEpoch, {}, epoch_});
        ++epoch_;
        group_ = 0;
        started_ = false;
        return true;
      }
      Group& g = groups_[group_];
      if (!started_) {
        order_ = split_order(g, epoch_);
        position_ = skip_done(g.split);
        started_ = true;
      }
      if (position_ < order_.size()) {
        Sample s = index_.samples[static_cast<size_t>(g.members[order_[position_++]])];
        s.epoch = epoch_;
        out.emit(std::move(s));
        return true;
      }
      out.emit_control(Control{ControlKind::kEndOfSplit, g.split, epoch_});
      ++group_;
      started_ = false;
      return true;
    }
    return false;
  }

 private:
  struct Group {
    std::string split;
    std::vector<int64_t> members;  // positions in index_.samples
  };
  // The positions `g` visits in `epoch`: limited, shuffled (train), sharded.
  std::vector<int64_t> split_order(const Group& g, int64_t epoch) const {
    EpochOrderOptions o = order_options_;
    o.shuffle = o.shuffle && g.split == "train";
    o.pad_shards = g.split == "train";
    return epoch_order(static_cast<int64_t>(g.members.size()), epoch, o);
  }

  // Resuming mid-epoch: the items of this shard that the start position says are
  // done, skipped without being emitted (so never read or decoded).
  size_t skip_done(const std::string& split) {
    const int64_t skip = std::min<int64_t>(
        items_to_skip(start_, epoch_, split, order_options_.shard_rank, order_options_.shard_count),
        static_cast<int64_t>(order_.size()));
    if (skip <= 0) return 0;
    ctx_->announce_resumed_items(skip);
    ctx_->counter("resume_skipped").add(skip);
    ctx_->log().info(
        "starting in epoch {} of {} after {} of its {} {} samples (resume: {} consumed over all "
        "ranks)",
        epoch_ + 1, epochs_, skip, order_.size(), split, start_.consumed);
    return static_cast<size_t>(skip);
  }

  DatasetIndex index_;
  int64_t epochs_;
  int64_t seed_param_;
  EpochOrderOptions order_options_;
  std::vector<Group> groups_;
  StageContext* ctx_ = nullptr;
  bool positioned_ = false;
  DataPosition start_;  // where a resumed run starts
  int64_t epoch_ = 0;
  size_t group_ = 0;
  bool started_ = false;
  std::vector<int64_t> order_;
  size_t position_ = 0;
};

std::vector<std::string> celeba_splits(const std::vector<std::string>& requested) {
  std::vector<std::string> out;
  for (const auto& s : requested) {
    if (s == "all") {
      for (const auto& name : celeba_split_names()) out.push_back(name);
    } else if (std::find(celeba_split_names().begin(), celeba_split_names().end(), s) ==
               celeba_split_names().end()) {
      throw std::invalid_argument("split: unknown split '" + s +
                                  "' (expected train, validation, test or all)");
    } else {
      out.push_back(s);
    }
  }
  if (out.empty()) throw std::invalid_argument("split: name at least one split");
  return out;
}

// celeba.index's index: one label attribute is binary, several multi-label.
DatasetIndex celeba_index(const Params& p, const std::vector<std::string>& splits) {
  CelebaOptions o;
  o.root = p.get_string("root");
  o.splits = splits;
  o.attributes = p.get_strings("attributes");
  const auto label = celeba_label_attributes(p.get_strings("label"));
  if (label.size() > 1) return load_celeba_index(o, label);
  o.label = label.front();
  return load_celeba_index(o);
}

class CelebaIndexSource : public IndexSource {
 public:
  explicit CelebaIndexSource(const Params& p)
      : CelebaIndexSource(p, celeba_splits(p.get_strings("split"))) {}

 private:
  CelebaIndexSource(const Params& p, std::vector<std::string> splits)
      : IndexSource(p, celeba_index(p, splits), splits) {}
};

class DirIndexSource : public IndexSource {
 public:
  explicit DirIndexSource(const Params& p) : DirIndexSource(p, dir_index_options(p)) {}

 private:
  DirIndexSource(const Params& p, const DirIndexOptions& o)
      : IndexSource(p, load_directory_index(o), plan_directory_index(o).splits()) {}
};

CsvIndexOptions csv_options(const Params& p) {
  CsvIndexOptions o;
  o.file = p.get_string("file");
  o.image_root = p.get_string("image_root");
  o.path_column = p.get_string("path_column");
  o.label_column = p.get_string("label_column");
  o.split_column = p.get_string("split_column");
  o.splits = p.get_strings("split");
  return o;
}

// The splits a CSV index yields, in requested order, or in order of appearance.
std::vector<std::string> csv_splits(const DatasetIndex& index,
                                    const std::vector<std::string>& requested) {
  if (!requested.empty()) return requested;
  std::vector<std::string> seen;
  for (const Sample& s : index.samples) {
    if (std::find(seen.begin(), seen.end(), s.split) == seen.end()) seen.push_back(s.split);
  }
  return seen;
}

// The CSV index; with validation_split every row, cut into train and validation.
DatasetIndex csv_index(const Params& p) {
  const double fraction = p.get_float("validation_split");
  if (fraction <= 0) return load_csv_index(csv_options(p));
  CsvIndexOptions o = csv_options(p);
  o.splits.clear();  // every row is "train" until cut
  DatasetIndex index = load_csv_index(o);
  const auto seed = static_cast<uint64_t>(p.get_int("split_seed"));
  apply_validation_split(index.samples, fraction, seed);
  index.description += " (validation_split " + fmt::format("{}", fraction) + ", split_seed " +
                       std::to_string(seed) + ")";
  return index;
}

std::vector<std::string> csv_emitted_splits(const Params& p, const DatasetIndex& index) {
  if (p.get_float("validation_split") > 0) return validation_split_subsets(p.get_strings("split"));
  return csv_splits(index, p.get_strings("split"));
}

class CsvIndexSource : public IndexSource {
 public:
  explicit CsvIndexSource(const Params& p) : CsvIndexSource(p, csv_index(p)) {}

 private:
  CsvIndexSource(const Params& p, DatasetIndex index)
      : IndexSource(p, index, csv_emitted_splits(p, index)) {}
};

// An IndexError's text without its " error:" marker: the diagnostic has one.
std::string index_problem(const std::string& key, const IndexError& e) {
  std::string what = e.what();
  const auto at = what.find(": error: ");
  if (at != std::string::npos) what.erase(at, 7);
  return key + ": " + what;
}

// What load_celeba_index would refuse, found from the attribute file's header.
void check_celeba_params(const ParamCheck& c) {
  const Params& p = c.params();
  try {
    celeba_splits(p.get_strings("split"));
  } catch (const std::invalid_argument& e) {
    c.error("split", e.what());
  }
  CelebaHeader header;
  try {
    header = read_celeba_header(p.get_string("root"));
  } catch (const IndexError& e) {
    c.error("root", index_problem("root", e));
    return;
  }
  for (const auto& attribute : celeba_label_attributes(p.get_strings("label"))) {
    try {
      require_celeba_column(header, attribute, "label attribute");
    } catch (const IndexError& e) {
      c.error("label", index_problem("label", e));
    }
  }
  for (const auto& attribute : p.get_strings("attributes")) {
    try {
      require_celeba_column(header, attribute, "attribute");
    } catch (const IndexError& e) {
      c.error("attributes", index_problem("attributes", e));
    }
  }
}

// What load_directory_index would refuse: the root, the layout, the split folders.
void check_dir_params(const ParamCheck& c) {
  for (const DirIndexProblem& problem :
       plan_directory_index(dir_index_options(c.params())).problems) {
    c.error(problem.key, problem.key + ": " + problem.text());
  }
}

// validation_split: below 1, without a split column, making train and validation.
void check_csv_validation_split(const ParamCheck& c) {
  const Params& p = c.params();
  const double fraction = p.get_float("validation_split");
  if (fraction == 0) return;
  if (fraction >= 1) {
    c.error("validation_split",
            "validation_split: must be below 1 (the fraction of the samples held out for "
            "validation), got " +
                fmt::format("{}", fraction));
  }
  if (!p.get_string("split_column").empty()) {
    c.error("validation_split", "validation_split: split_column '" + p.get_string("split_column") +
                                    "' already names each row's split; remove one of the two");
  }
  for (const std::string& name : p.get_strings("split")) {
    if (name != "train" && name != "validation") {
      c.error("split", "split: validation_split makes a train and a validation split; '" + name +
                           "' would have no samples");
    }
  }
}

void check_csv_params(const ParamCheck& c) {
  check_csv_validation_split(c);
  const std::string& file = c.params().get_string("file");
  struct stat st {};  // stat only: opening a FIFO would block
  if (::stat(file.c_str(), &st) != 0) {
    c.error("file", index_problem("file", IndexError(file, 0, "cannot open file")));
  } else if (!S_ISREG(st.st_mode)) {
    c.error("file", index_problem("file", IndexError(file, 0,
                                                     std::string("the index file is ") +
                                                         file_type_name(st.st_mode) +
                                                         ", not a regular file")));
  }
}

// The shard the constructor would pick must exist.
void check_shard_params(const ParamCheck& c) {
  const Params& p = c.params();
  if (!c.given("shard_rank") && !c.given("shard_count")) return;  // from the launcher
  const LaunchEnv launch = launch_env_from_environment();
  const int64_t rank = p.has("shard_rank") ? p.get_int("shard_rank") : launch.rank;
  const int64_t count = p.has("shard_count") ? p.get_int("shard_count") : launch.world_size;
  if (rank >= count)
    c.error(c.given("shard_rank") ? "shard_rank" : "shard_count", shard_problem(rank, count));
}

}  // namespace

StageSpec& index_ordering_params(StageSpec& s) {
  return s.param(ParamSpec::integer("epochs", 1, "passes over the data").min(1))
      .param(ParamSpec::boolean("shuffle", true,
                                "shuffle the train split each epoch (order depends only on seed "
                                "and epoch); other splits keep file order"))
      .param(ParamSpec::integer("seed", -1, "shuffle seed (-1: derived from pipeline.seed)"))
      .param(ParamSpec::integer("limit", -1, "use only the first N samples of each split (-1: all)")
                 .min(-1))
      .param(ParamSpec::optional("shard_rank", ParamType::kInt,
                                 "this process's shard (default: RANK when WORLD_SIZE > 1, else 0)")
                 .min(0))
      .param(ParamSpec::optional("shard_count", ParamType::kInt,
                                 "number of shards (default: WORLD_SIZE, else 1); the train "
                                 "split is padded to equal shards")
                 .range(1, 65536))
      .check(check_shard_params);
}

void register_index_sources(Registry& r) {
  StageSpec celeba("celeba.index");
  celeba
      .doc("CelebA attribute index (Kaggle CSV or original TXT layout) as Samples.",
           "Reads list_attr_celeba.{csv,txt} and list_eval_partition.{csv,txt}; the label is one "
           "attribute (-1/1 -> 0/1). Emits each requested split in order, closed by an "
           "end-of-split marker, then an end-of-epoch marker, `epochs` times.")
      .source<Sample>()
      .output_spec(celeba_index_spec)
      .param(ParamSpec::required("root", ParamType::kString, "dataset folder"))
      .param(ParamSpec::strings("label", {"Male"},
                                "attribute used as the 0/1 label (binary); several, or \"all\" "
                                "for the 40, make a multi-label label (one 0/1 value each)")
                 .list_size(1, SIZE_MAX))
      .param(ParamSpec::strings("class_names", {},
                                "names of label 0 and 1, recorded in checkpoints and printed by "
                                "evaluation and prediction (empty: \"not LABEL\" and LABEL; "
                                "Female and Male for Male)")
                 .list_size(0, 2))
      .param(ParamSpec::strings("split", {"train"},
                                "split(s) in emission order: train, validation, test or all"))
      .param(ParamSpec::strings("attributes", {}, "extra attributes carried with each sample"))
      .check(check_celeba_params);
  r.add<CelebaIndexSource>(index_ordering_params(celeba));

  StageSpec dir("dir.index");
  dir.doc("Images in one sub-folder per class (sorted names), as Keras flow_from_directory.",
          "Class folders: ROOT/<class>/, every sample gets the one split named. Split folders: "
          "ROOT/<split>/<class>/ for each split named, read as one source (the classes are the "
          "union over every split folder under ROOT). layout = \"auto\" reads split folders when "
          "ROOT has a folder named after one of the splits, else class folders. labels = false "
          "reads every image under ROOT (or each split folder) without a label, e.g. to "
          "predict.")
      .source<Sample>()
      .output_spec(dir_index_spec)
      .param(ParamSpec::required("root", ParamType::kString,
                                 "folder of class sub-folders, or of split folders"))
      .param(ParamSpec::string("layout", "auto",
                               "class_folders (ROOT/<class>/), split_folders "
                               "(ROOT/<split>/<class>/) or auto")
                 .one_of(dir_layouts().names()))
      .param(ParamSpec::strings("split", {"train"},
                                "split(s) in emission order: train, validation (val, valid), test; "
                                "with split folders also the folder names")
                 .one_of(dir_split_names().names())
                 .list_size(1, SIZE_MAX))
      .param(ParamSpec::boolean("labels", true,
                                "false: no class folders; every image under ROOT (or each split "
                                "folder), recursively, is a sample without a label (images to "
                                "predict)"))
      .param(ParamSpec::number("validation_split", 0,
                               "class folders only: the fraction in [0, 1) of the samples held "
                               "out as the validation split (int(fraction * n) samples, chosen "
                               "by split_seed); 0: off")
                 .min(0))
      .param(ParamSpec::integer("split_seed", 0,
                                "seed choosing the validation_split samples (not the shuffle "
                                "seed, so another seed never moves samples between splits)")
                 .min(0))
      .check(check_dir_params);
  r.add<DirIndexSource>(index_ordering_params(dir));

  StageSpec csv("csv.index");
  csv.doc("A CSV file listing image paths and labels (columns chosen by name).",
          "Labels are integers, or class names mapped to ids in sorted order. Relative paths are "
          "resolved against image_root, else the CSV's folder.")
      .source<Sample>()
      .output_spec(csv_index_spec)
      .param(ParamSpec::required("file", ParamType::kString, "the CSV file (with a header line)"))
      .param(ParamSpec::string("image_root", "", "folder for relative paths (default: the CSV's)"))
      .param(ParamSpec::string("path_column", "path", "column holding the image path"))
      .param(ParamSpec::string("label_column", "label", "column holding the label"))
      .param(ParamSpec::string("split_column", "", "optional column naming each row's split"))
      .param(ParamSpec::strings("split", {},
                                "with split_column or validation_split: the splits to emit, in "
                                "order"))
      .param(ParamSpec::number("validation_split", 0,
                               "without split_column: the fraction in [0, 1) of the rows held "
                               "out as the validation split (int(fraction * n) rows, chosen by "
                               "split_seed); 0: off")
                 .min(0))
      .param(ParamSpec::integer("split_seed", 0,
                                "seed choosing the validation_split rows (not the shuffle seed)")
                 .min(0))
      .check(check_csv_params);
  r.add<CsvIndexSource>(index_ordering_params(csv));
}

}  // namespace sluice::data
