// Registers the data stage family: celeba.index, dir.index, csv.index, shard.index,
// image.decode, image.augment, image.cache, batch, image.resize, image.encode and
// shard.write.
//
// Example config (the input half of the CelebA gender recipe):
//   [stages.index]
//   use = "celeba.index"
//   root = "data/celeba"
//   split = ["train", "validation"]
//
//   [stages.decode]
//   use = "image.decode"
//   input = "index"
//
//   [stages.augment]
//   use = "image.augment"
//   input = "decode"
//   shear = 0.2
//   zoom = 0.2
//   flip = true
//   rescale = 0.00392156862745098
//
//   [stages.batch]
//   use = "image.batch"
//   input = "augment"
//   batch_size = 32
#include "stages/data/data_stages.h"

#include "pipeline/registry.h"

namespace sluice {

void register_data_stages(Registry& registry) {
  data::register_index_sources(registry);
  data::register_shard_index(registry);
  data::register_image_stages(registry);
  data::register_batch_stage(registry);
  data::register_cache_stage(registry);
  data::register_encode_stages(registry);
  data::register_shard_write_stage(registry);
}

}  // namespace sluice
