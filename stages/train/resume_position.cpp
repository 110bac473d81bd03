#include "stages/train/resume_position.h"

#include <algorithm>

namespace sluice::train {

DataPosition resume_position(const TrainingState& state) {
  if (!state.progress.mid_epoch()) return DataPosition{state.epoch, {}, 0};
  return DataPosition{state.epoch, state.progress.split, state.progress.samples};
}

std::string resume_position_problem(const std::string& path, const TrainingState& state,
                                    const std::string& train_split, int64_t batch_size,
                                    int64_t world_size) {
  const EpochProgress& p = state.progress;
  if (!p.mid_epoch()) return {};
  const std::string where = path + " was written inside epoch " + std::to_string(state.epoch + 1) +
                            " (after " + std::to_string(p.batches) + " step(s), " +
                            std::to_string(p.samples) + " samples of its '" + p.split + "' split)";
  if (p.split != train_split) {
    return where + " but train_split is '" + train_split +
           "'; resume it with the train_split it was trained on";
  }
  const int64_t global = batch_size * world_size;
  if (batch_size <= 0 || p.global_batch <= 0 || global == p.global_batch) return {};
  return where + " with a global batch of " + std::to_string(p.global_batch) + " (" +
         std::to_string(p.global_batch / std::max<int64_t>(p.world_size, 1)) + " per rank x " +
         std::to_string(p.world_size) + " rank(s)); this run's is " + std::to_string(global) +
         " (image.batch batch_size " + std::to_string(batch_size) + " x WORLD_SIZE " +
         std::to_string(world_size) +
         "). Set batch_size so that batch_size x WORLD_SIZE = " + std::to_string(p.global_batch) +
         ", or resume from a checkpoint written at the end of an epoch";
}

}  // namespace sluice::train
