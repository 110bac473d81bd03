// The first augmented images a pipeline config produces (same seed, same
// transforms as its runs): the graph is cut after its augmentation stage (the last
// stage producing Images, image.augment preferred) and run until `count` images
// came out. Used by `sluice preview` and `sluice report`.
#pragma once

#include <string>
#include <vector>

#include "pipeline/config.h"
#include "tools/sluice/command.h"
#include "vision/payloads.h"

namespace sluice::cli {

struct PreviewImages {
  std::vector<Image> images;
  std::string tap;                      // the stage they come from
  int code = kExitOk;                   // kExitConfigError or kExitFailure on failure
  std::vector<Diagnostic> diagnostics;  // config errors (code 2)
  std::string error;                    // anything else that went wrong
};

// `plugins`: libraries with more stage types (besides the config's pipeline.plugins);
// `seed`: the run seed (-1: the config's pipeline.seed), as `sluice run --seed`.
PreviewImages preview_images(const std::string& config_path,
                             const std::vector<std::string>& overrides, size_t count,
                             const std::vector<std::string>& plugins = {}, int64_t seed = -1);

}  // namespace sluice::cli
