// Deterministic toy batches for trainer tests: label 1 images are bright on the left,
// label 0 images bright on the right, with per-pixel noise keyed by (seed, epoch, index).
#pragma once

#include <cstdint>
#include <string>

#include "pipeline/rng.h"
#include "vision/payloads.h"

namespace sluice::train::testing {

inline Batch toy_batch(uint64_t seed, int64_t epoch, int64_t index, int size, int side,
                       const std::string& split = "train") {
  Batch b;
  b.index = index;
  b.epoch = epoch;
  b.split = split;
  b.size = size;
  b.height = b.width = side;
  b.channels = 3;
  b.pixels = ByteBuffer(new uint8_t[b.image_bytes() * size]);
  b.normalization.kind = Normalization::Kind::kRescale;
  b.normalization.scale = 1.0 / 255.0;
  CounterRng rng(seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index));
  for (int i = 0; i < size; ++i) {
    const int64_t label = static_cast<int64_t>(rng.below(2));
    b.labels.push_back(label);
    b.sample_indices.push_back(index * size + i);
    b.ids.push_back("img" + std::to_string(index * size + i));
    uint8_t* img = b.pixels.get() + b.image_bytes() * i;
    for (int y = 0; y < side; ++y) {
      for (int x = 0; x < side; ++x) {
        const bool left = x < side / 2;
        const int base = (left == (label == 1)) ? 170 : 60;
        for (int c = 0; c < 3; ++c) {
          img[(y * side + x) * 3 + c] = static_cast<uint8_t>(base + rng.below(60));
        }
      }
    }
  }
  return b;
}

}  // namespace sluice::train::testing
