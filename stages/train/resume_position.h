// Resuming a run from a mid-epoch checkpoint: where its data continues, and whether
// this run can continue there. A mid-epoch position counts global samples, so it
// holds for any number of ranks with the same global batch (per-rank batch size x
// ranks); with another global batch the rest of the epoch would be cut into other
// batches, so such a resume is refused, at `sluice check` as at run time.
#pragma once

#include <cstdint>
#include <string>

#include "pipeline/data_position.h"
#include "stages/train/trainer.h"

namespace sluice::train {

// The position the sources start at to continue after `state`: the next epoch at
// an epoch boundary, else inside epoch state.epoch after progress.samples samples.
DataPosition resume_position(const TrainingState& state);

// Why this run cannot continue `state` of checkpoint `path` (empty: it can): a
// mid-epoch checkpoint of another train split, or of another global batch than
// `batch_size` (per rank; 0: not known) x `world_size`.
std::string resume_position_problem(const std::string& path, const TrainingState& state,
                                    const std::string& train_split, int64_t batch_size,
                                    int64_t world_size);

}  // namespace sluice::train
