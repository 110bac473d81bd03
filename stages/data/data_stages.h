// The data stage family: dataset indexes (celeba.index, dir.index, csv.index,
// shard.index), image.decode, image.augment, image.cache, batch, and for writing datasets
// image.resize, image.encode and shard.write. See docs/data.md.
#pragma once

namespace sluice {

class Registry;
class StageSpec;

void register_data_stages(Registry& registry);

namespace data {
// Registration by file, called from register_data_stages.
void register_index_sources(Registry& registry);
void register_image_stages(Registry& registry);
void register_batch_stage(Registry& registry);
void register_cache_stage(Registry& registry);
void register_shard_index(Registry& registry);
void register_encode_stages(Registry& registry);
void register_shard_write_stage(Registry& registry);
// The parameters every index source shares (epochs, shuffle, seed, limit,
// shard_rank, shard_count) and their check, added to `spec`.
StageSpec& index_ordering_params(StageSpec& spec);
}  // namespace data

}  // namespace sluice
