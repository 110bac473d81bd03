#include "stages/data/dir_index.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <set>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "pipeline/text_escape.h"
#include "stages/data/validation_split.h"

namespace sluice::data {
namespace fs = std::filesystem;

namespace {

bool is_image_file(const fs::path& p) {
  static const std::set<std::string> kExt = {".jpg", ".jpeg", ".png", ".bmp",
                                             ".ppm", ".tif",  ".tiff"};
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return kExt.count(ext) > 0;
}

bool is_folder_entry(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(fs::symlink_status(p, ec));
}

// The status of a directory entry, following symlinks; a dangling or looping
// symlink gives an error code instead of an exception.
fs::file_status followed_status(const fs::directory_entry& e, std::error_code& ec) {
  fs::file_status st = e.symlink_status(ec);
  if (!ec && fs::is_symlink(st)) st = e.status(ec);
  return st;
}

// A name starting with '.' (.ipynb_checkpoints, .DS_Store, .git) is a tool's, not
// a class or a sample (ls hides it too); skipped, said at debug level.
bool skip_hidden(const fs::path& p) {
  const std::string name = p.filename().string();
  if (name.empty() || name[0] != '.') return false;
  spdlog::debug("dir.index: skipped the hidden {} '{}'", is_folder_entry(p) ? "folder" : "file",
                printable(p.string()));
  return true;
}

bool is_folder(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// Image files under `dir`, recursively (symlinked sub-folders are not entered,
// so a symlink loop cannot recurse). Entries that cannot be read (a looping
// symlink, a folder without permission) go to `skipped` as "PATH: why".
void list_images(const fs::path& dir, std::vector<fs::path>& files,
                 std::vector<std::string>& skipped) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    skipped.push_back(printable(dir.string()) + ": " + ec.message());
    return;
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const fs::directory_entry& e = *it;
    if (skip_hidden(e.path())) continue;
    std::error_code sec;
    const fs::file_status link = e.symlink_status(sec);
    fs::file_status st = link;
    if (!sec && fs::is_symlink(link)) st = e.status(sec);
    if (sec) {
      skipped.push_back(printable(e.path().string()) + ": " + sec.message());
    } else if (fs::is_directory(st) && !fs::is_symlink(link)) {
      list_images(e.path(), files, skipped);
    } else if (fs::is_regular_file(st) && is_image_file(e.path())) {
      files.push_back(e.path());
    }
  }
  if (ec) skipped.push_back(printable(dir.string()) + ": " + ec.message());
}

// The sub-folder names of `dir` (symlinks to folders count) into `names`;
// false with `error` set when `dir` cannot be listed.
bool list_subfolders(const fs::path& dir, std::set<std::string>& names,
                     std::vector<std::string>* skipped, std::string& error) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (skip_hidden(it->path())) continue;
    std::error_code sec;
    const fs::file_status st = followed_status(*it, sec);
    if (sec) {
      if (skipped) skipped->push_back(printable(it->path().string()) + ": " + sec.message());
    } else if (fs::is_directory(st)) {
      names.insert(it->path().filename().string());
    }
  }
  if (ec) error = "cannot list the folder: " + ec.message();
  return !ec;
}

std::string split_of(const std::string& name) { return dir_split_names().parse(name); }

size_t split_rank(const std::string& split) {
  static const std::vector<std::string> kOrder = {"train", "validation", "test"};
  return static_cast<size_t>(std::find(kOrder.begin(), kOrder.end(), split) - kOrder.begin());
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  return out;
}

// The split folders ROOT holds, by the names `split` accepts.
std::vector<std::string> split_folders_in(const fs::path& root) {
  std::vector<std::string> present;
  for (const std::string& name : dir_split_names().names()) {
    if (is_folder(root / name)) present.push_back(name);
  }
  return present;
}

// Checks the names of `split` one by one: known, not repeated (under any alias).
void check_split_names(const std::vector<std::string>& names, DirIndexPlan& plan) {
  if (names.empty()) plan.problems.push_back({"split", "", "name at least one split"});
  std::vector<std::pair<std::string, std::string>> seen;  // (split, name)
  for (const std::string& name : names) {
    std::string split;
    try {
      split = split_of(name);
    } catch (const std::invalid_argument& e) {  // "unknown split 'x' (expected ...)"
      plan.problems.push_back({"split", "", e.what()});
      continue;
    }
    auto it =
        std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == split; });
    if (it == seen.end()) {
      seen.emplace_back(split, name);
    } else if (it->second == name) {
      plan.problems.push_back({"split", "", "'" + name + "' is named twice"});
    } else {
      plan.problems.push_back({"split", "",
                               "'" + it->second + "' and '" + name + "' both name the " + split +
                                   " split; name it once"});
    }
  }
}

void plan_class_folders(const DirIndexOptions& o, bool automatic, DirIndexPlan& plan) {
  if (o.splits.size() != 1) {
    const std::string why =
        automatic
            ? "no split folder named " + joined(o.splits) + " is in " + o.root +
                  ", so its sub-folders are read as classes and every sample gets one "
                  "split; name one, set validation_split to cut them into train and validation, or "
                  "set root to the folder that holds the split folders"
            : "layout = \"class_folders\" gives every sample one split; name one";
    plan.problems.push_back(
        {"split", "", "names " + std::to_string(o.splits.size()) + " splits but " + why});
    return;
  }
  plan.folders.push_back({"", o.root, split_of(o.splits.front())});
  plan.class_roots.push_back(o.root);
}

void plan_split_folders(const DirIndexOptions& o, DirIndexPlan& plan) {
  const fs::path root(o.root);
  const std::vector<std::string> present = split_folders_in(root);
  for (const std::string& name : o.splits) {
    const fs::path folder = root / name;
    if (!is_folder(folder)) {
      const std::string hint = present.empty()
                                   ? " (" + o.root +
                                         " holds no split folder: train, validation, val, "
                                         "valid or test)"
                                   : " (" + o.root + " holds " + joined(present) + ")";
      plan.problems.push_back({"split", folder.string(), "no such split folder" + hint});
      continue;
    }
    plan.folders.push_back({name, folder.string(), split_of(name)});
    plan.class_roots.push_back(folder.string());
  }
  // Every split folder under ROOT names classes, read or not: the ids stay the
  // same when another run reads other splits (evaluation on test).
  for (const std::string& name : present) {
    const std::string folder = (root / name).string();
    if (std::find(plan.class_roots.begin(), plan.class_roots.end(), folder) ==
        plan.class_roots.end()) {
      plan.class_roots.push_back(folder);
    }
  }
}

// The plan's folders in split order (train, validation, test).
std::vector<DirSplitFolder> folders_in_split_order(const DirIndexPlan& plan) {
  std::vector<DirSplitFolder> folders = plan.folders;
  std::stable_sort(folders.begin(), folders.end(), [](const auto& a, const auto& b) {
    return split_rank(a.split) < split_rank(b.split);
  });
  return folders;
}

// Appends the sorted images under `folder` as samples of `split` with `label`.
void append_images(const fs::path& folder, const std::string& split, int64_t label,
                   const std::string& root,
                   const std::shared_ptr<const std::vector<std::string>>& attr_names,
                   DatasetIndex& index) {
  std::vector<fs::path> files;
  list_images(folder, files, index.skipped);
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    Sample s;
    s.index = static_cast<int64_t>(index.samples.size());
    s.split = split;
    s.id = fs::relative(f, root).string();
    s.path = f.string();
    s.label = label;
    s.attr_names = attr_names;
    s.origin = s.path;
    index.samples.push_back(std::move(s));
  }
}

// labels = false: every image under each folder of the plan, in split order, no label.
DatasetIndex unlabeled_index(const DirIndexOptions& options, const DirIndexPlan& plan) {
  DatasetIndex index;
  auto attr_names = std::make_shared<const std::vector<std::string>>();
  for (const DirSplitFolder& folder : folders_in_split_order(plan)) {
    append_images(folder.path, folder.split, -1, options.root, attr_names, index);
  }
  if (index.samples.empty()) throw IndexError(options.root, 0, "no image files under the folder");
  index.description = "unlabeled images at " + options.root;
  return index;
}

std::string fraction_text(double v) {
  std::string s = std::to_string(v);
  while (s.size() > 1 && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// validation_split cuts one folder of class folders; split folders already
// make the splits, so the two are refused together.
void plan_validation_split(const DirIndexOptions& o, DirIndexPlan& plan) {
  if (o.validation_split >= 1) {
    plan.problems.push_back({"validation_split", "",
                             "must be below 1 (the fraction of the samples held out for "
                             "validation), got " +
                                 fraction_text(o.validation_split)});
  }
  if (!o.labels) {
    plan.problems.push_back({"validation_split", "",
                             "cuts class folders into train and validation, but labels = false "
                             "reads images without classes; remove one of the two"});
  }
  const std::vector<std::string> present = split_folders_in(o.root);
  if (o.layout == DirLayout::kSplitFolders) {
    plan.problems.push_back({"validation_split", "",
                             "cuts one folder of class folders into train and validation, but "
                             "layout = \"split_folders\" reads the splits from their folders; "
                             "remove one of the two"});
  } else if (o.layout == DirLayout::kAuto && !present.empty()) {
    plan.problems.push_back(
        {"validation_split", o.root,
         "holds split folders (" + joined(present) +
             "), which already make the splits; remove validation_split to read them, or set "
             "root to the folder of class folders to cut (layout = \"class_folders\" reads "
             "these folders as classes)"});
  }
  for (const std::string& name : o.splits) {
    const std::string split = split_of(name);
    if (split == "test") {
      plan.problems.push_back({"split", "",
                               "validation_split makes a train and a validation split; '" + name +
                                   "' would have no samples"});
    }
    plan.subsets.push_back(split);
  }
  if (!plan.problems.empty()) return;
  plan.layout = DirLayout::kClassFolders;
  plan.folders.push_back({"", o.root, "train"});
  plan.class_roots.push_back(o.root);
}

}  // namespace

const ChoiceList<DirLayout>& dir_layouts() {
  static const ChoiceList<DirLayout> kLayouts("layout",
                                              {{"auto", DirLayout::kAuto},
                                               {"class_folders", DirLayout::kClassFolders},
                                               {"split_folders", DirLayout::kSplitFolders}});
  return kLayouts;
}

const ChoiceList<std::string>& dir_split_names() {
  static const ChoiceList<std::string> kSplits("split", {{"train", "train"},
                                                         {"validation", "validation"},
                                                         {"val", "validation"},
                                                         {"valid", "validation"},
                                                         {"test", "test"}});
  return kSplits;
}

DirIndexOptions dir_index_options(const Params& p) {
  DirIndexOptions o{p.get_string("root"), dir_layouts().parse(p.get_string("layout")),
                    p.get_strings("split"), p.get_bool("labels")};
  o.validation_split = p.get_float("validation_split");
  o.split_seed = static_cast<uint64_t>(p.get_int("split_seed"));
  return o;
}

std::vector<std::string> DirIndexPlan::splits() const {
  if (!subsets.empty()) return subsets;
  std::vector<std::string> out;
  for (const DirSplitFolder& f : folders) out.push_back(f.split);
  return out;
}

DirIndexPlan plan_directory_index(const DirIndexOptions& options) {
  DirIndexPlan plan;
  check_split_names(options.splits, plan);
  if (!is_folder(options.root)) {
    plan.problems.push_back({"root", options.root, "not a directory"});
  }
  if (!plan.problems.empty()) return plan;
  if (options.validation_split != 0) {
    plan_validation_split(options, plan);
    return plan;
  }
  plan.layout = options.layout;
  if (plan.layout == DirLayout::kAuto) {
    const bool any = std::any_of(options.splits.begin(), options.splits.end(), [&](const auto& n) {
      return is_folder(fs::path(options.root) / n);
    });
    plan.layout = any ? DirLayout::kSplitFolders : DirLayout::kClassFolders;
  }
  if (plan.layout == DirLayout::kClassFolders) {
    plan_class_folders(options, options.layout == DirLayout::kAuto, plan);
  } else {
    plan_split_folders(options, plan);
  }
  return plan;
}

std::vector<std::string> directory_class_names(const DirIndexPlan& plan,
                                               std::vector<std::string>* skipped) {
  std::set<std::string> names;
  for (const std::string& folder : plan.class_roots) {
    std::string error;
    if (!list_subfolders(folder, names, skipped, error) && skipped) {
      skipped->push_back(printable(folder) + ": " + error);
    }
  }
  return {names.begin(), names.end()};
}

DatasetIndex load_directory_index(const DirIndexOptions& options) {
  const DirIndexPlan plan = plan_directory_index(options);
  if (!plan.problems.empty()) {
    const DirIndexProblem& p = plan.problems.front();
    if (p.path.empty()) throw std::invalid_argument(p.key + ": " + p.message);
    throw IndexError(p.path, 0, p.message);
  }
  for (const DirSplitFolder& f : plan.folders) {  // a folder read must be listable
    std::set<std::string> ignored;
    std::string error;
    if (!list_subfolders(f.path, ignored, nullptr, error)) throw IndexError(f.path, 0, error);
  }
  DatasetIndex index;
  if (!options.labels) return unlabeled_index(options, plan);
  index.class_names = directory_class_names(plan, &index.skipped);
  if (index.class_names.empty()) {
    throw IndexError(options.root, 0,
                     plan.layout == DirLayout::kSplitFolders
                         ? "no class sub-folders in the split folders"
                         : "no class sub-folders");
  }
  auto attr_names = std::make_shared<const std::vector<std::string>>();
  for (const DirSplitFolder& folder : folders_in_split_order(plan)) {
    for (size_t label = 0; label < index.class_names.size(); ++label) {
      const fs::path class_folder = fs::path(folder.path) / index.class_names[label];
      if (folder.name.empty() || is_folder(class_folder)) {
        append_images(class_folder, folder.split, static_cast<int64_t>(label), options.root,
                      attr_names, index);
      }
    }
  }
  std::vector<std::string> names;
  for (const DirSplitFolder& f : plan.folders) names.push_back(f.name);
  index.description = plan.layout == DirLayout::kSplitFolders
                          ? "split folders " + joined(names) + " at " + options.root
                          : "class folders at " + options.root;
  if (options.validation_split > 0) {
    apply_validation_split(index.samples, options.validation_split, options.split_seed);
    index.description += " (validation_split " + fraction_text(options.validation_split) +
                         ", split_seed " + std::to_string(options.split_seed) + ")";
  }
  return index;
}

DatasetIndex load_directory_index(const std::string& root, const std::string& split) {
  return load_directory_index(DirIndexOptions{root, DirLayout::kClassFolders, {split}});
}

}  // namespace sluice::data
