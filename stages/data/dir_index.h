// Image folders as a dataset index (Keras flow_from_directory), in two layouts:
//
//   class folders   ROOT/<class>/*.jpg              every sample gets the one split named
//   split folders   ROOT/train/<class>/*.jpg        one folder per split, read as one
//                   ROOT/validation/<class>/*.jpg   index whose samples carry their split
//
//   unlabeled       ROOT/**/*.jpg  (labels = false)  images to predict, no label
//
// With validation_split, class folders are cut into train and validation by a
// seed (validation_split.h, Keras's image_dataset_from_directory semantics).
//
// The classes are the sorted sub-folder names (label = position). With split
// folders they are the union over every split folder under ROOT, so a class
// missing from one split keeps the id it has in the others, whichever splits
// a run reads. plan_directory_index looks at ROOT and the split folders only,
// so `sluice check` can report a wrong layout before anything is listed.
#pragma once

#include <string>
#include <vector>

#include "pipeline/choice_list.h"
#include "pipeline/params.h"
#include "stages/data/celeba_index.h"

namespace sluice::data {

enum class DirLayout { kAuto, kClassFolders, kSplitFolders };

// "auto", "class_folders", "split_folders": the `layout` parameter of dir.index.
const ChoiceList<DirLayout>& dir_layouts();

// The names `split` accepts and the split each stands for: train; validation,
// val, valid; test. With split folders a name is also the folder it reads.
const ChoiceList<std::string>& dir_split_names();

struct DirIndexOptions {
  std::string root;
  // kAuto: split folders when ROOT has a folder named after one of `splits`,
  // else class folders.
  DirLayout layout = DirLayout::kAuto;
  std::vector<std::string> splits = {"train"};  // in emission order
  // false: no classes; every image under each folder read (recursively) is a
  // sample without a label (Sample::label -1), e.g. a folder of images to predict.
  bool labels = true;
  // > 0: class folders only; this fraction of the samples (chosen by
  // split_seed) is the validation split, the rest train.
  double validation_split = 0;
  uint64_t split_seed = 0;
};

// One folder of class sub-folders and the split its samples get.
struct DirSplitFolder {
  std::string name;   // as written in `split` ("val"); empty for class folders
  std::string path;   // ROOT, or ROOT/<name>
  std::string split;  // train, validation or test
};

// A mistake in the options, blamed on one parameter ("root" or "split").
struct DirIndexProblem {
  std::string key;
  std::string path;     // the folder it is about; empty when none
  std::string message;  // without the key or the path

  std::string text() const { return path.empty() ? message : path + ": " + message; }
};

struct DirIndexPlan {
  DirLayout layout = DirLayout::kClassFolders;  // as resolved, never kAuto
  std::vector<DirSplitFolder> folders;          // read, in emission order
  // Folders whose sub-folders are the classes: `folders`, and with split
  // folders every other split folder under ROOT.
  std::vector<std::string> class_roots;
  std::vector<DirIndexProblem> problems;  // none when the plan can be read
  // With validation_split: the splits named (train, validation), in order.
  std::vector<std::string> subsets;

  // The splits emitted, in order: `subsets`, else the folders' splits.
  std::vector<std::string> splits() const;
};

// The options of a dir.index stage: root, layout, split, validation_split,
// split_seed.
DirIndexOptions dir_index_options(const Params& p);

// Resolves the layout and the folders to read; stats ROOT and its entries only.
DirIndexPlan plan_directory_index(const DirIndexOptions& options);

// The sorted union of the sub-folder names of plan.class_roots. Entries that
// cannot be read go to `skipped` ("PATH: why") when it is given.
std::vector<std::string> directory_class_names(const DirIndexPlan& plan,
                                               std::vector<std::string>* skipped = nullptr);

// Lists the images of every folder of the plan (sorted within each class; the
// folders in train, validation, test order, so Sample::index of the train split
// does not depend on the other splits read). Throws IndexError (line 0) for the
// plan's first problem or when there is no class sub-folder. An entry that
// cannot be read (a symlink loop, a folder without permission) is left out and
// listed in `skipped`.
DatasetIndex load_directory_index(const DirIndexOptions& options);

// Class folders under `root`, every sample given `split`.
DatasetIndex load_directory_index(const std::string& root, const std::string& split = "train");

}  // namespace sluice::data
