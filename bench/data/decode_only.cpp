// Baseline for `sluice bench data`: how fast the same JPEG files can merely be
// read and decoded to RGB with TurboJPEG on the same number of threads (no
// resize, no augmentation, no batching, no framework). Also times the fused
// warp alone, to show what augmentation adds per image, and the data path
// (read + decode + augment to size x size) with today's shear/zoom/flip against
// the same plus rotation, shifts and brightness, and plus shifts and brightness
// only, alternated in one run.
//
//   bench_decode_only --root DIR [--threads 2] [--limit N] [--size 224]
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <turbojpeg.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "stages/data/affine_warp.h"
#include "stages/data/celeba_index.h"
#include "stages/data/jpeg_decoder.h"

namespace {

using sluice::data::AugmentRanges;

AugmentRanges shear_zoom_flip() { return AugmentRanges{0.2, 0.8, 1.2, true}; }

AugmentRanges with_rotation_shifts_brightness() {
  AugmentRanges r = shear_zoom_flip();
  r.rotation = 15;
  r.width_shift = 0.1;
  r.height_shift = 0.1;
  r.brightness_lo = 0.8;
  r.brightness_hi = 1.2;
  return r;
}

AugmentRanges with_shifts_brightness() {
  AugmentRanges r = with_rotation_shifts_brightness();
  r.rotation = 0;
  return r;
}

void augment(const sluice::Image& img, const AugmentRanges& ranges, uint64_t i, int size,
             uint8_t* out) {
  sluice::CounterRng rng(1, 0, i);
  const auto t = sluice::data::sample_transform(ranges, rng, size, size);
  const sluice::data::ImageSpan span{out, size, size, 3, size * 3};
  sluice::data::warp_affine({img.pixels.get(), img.width, img.height, 3, img.width * 3},
                            sluice::data::keras_inverse_map(t, img.width, img.height, size, size),
                            sluice::data::FillMode::kNearest, 0, span);
  sluice::data::apply_intensity(t, sluice::data::KerasConvention::k2_9, span);
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string root;
  int threads = 2, size = 224;
  long limit = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--root"))
      root = argv[i + 1];
    else if (!std::strcmp(argv[i], "--threads"))
      threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--limit"))
      limit = std::atol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--size"))
      size = std::atoi(argv[i + 1]);
  }
  if (root.empty()) {
    std::fprintf(stderr,
                 "usage: bench_decode_only --root DIR [--threads N] [--limit N] [--size S]\n");
    return 2;
  }
  sluice::data::CelebaOptions o;
  o.root = root;
  o.splits = {"train"};
  auto index = sluice::data::load_celeba_index(o);
  if (limit >= 0 && static_cast<size_t>(limit) < index.samples.size()) index.samples.resize(limit);
  const auto n = static_cast<int64_t>(index.samples.size());
  tbb::global_control control(tbb::global_control::max_allowed_parallelism, threads);

  // Decode only: read the file, TurboJPEG to RGB, one handle per thread.
  std::atomic<int64_t> failures{0};
  auto t0 = std::chrono::steady_clock::now();
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, n, 16), [&](const tbb::blocked_range<int64_t>& r) {
        tjhandle tj = tjInitDecompress();
        std::vector<uint8_t> bytes, rgb;
        for (int64_t i = r.begin(); i != r.end(); ++i) {
          if (!sluice::data::read_file_bytes(index.samples[i].path, bytes).ok()) {
            ++failures;
            continue;
          }
          int w = 0, h = 0, ss = 0, cs = 0;
          if (tjDecompressHeader3(tj, bytes.data(), bytes.size(), &w, &h, &ss, &cs) != 0) {
            ++failures;
            continue;
          }
          rgb.resize(static_cast<size_t>(w) * h * 3);
          if (tjDecompress2(tj, bytes.data(), bytes.size(), rgb.data(), w, 0, h, TJPF_RGB, 0) !=
              0) {
            ++failures;
          }
        }
        tjDestroy(tj);
      });
  const double decode_s = seconds_since(t0);

  // Warp alone (single thread), on one decoded image, with Keras-like draws:
  // the two configurations alternated, best of 3 rounds each.
  sluice::Image img;
  sluice::data::decode_image_file(index.samples.at(0).path, {}, sluice::data::heap_buffer, img);
  std::vector<uint8_t> out(static_cast<size_t>(size) * size * 3);
  constexpr int kConfigs = 3;
  const AugmentRanges configs[kConfigs] = {shear_zoom_flip(), with_rotation_shifts_brightness(),
                                           with_shifts_brightness()};
  const int reps = 2000;
  double warp_us[kConfigs] = {1e30, 1e30, 1e30};
  for (int round = 0; round < 3; ++round) {
    for (int k = 0; k < kConfigs; ++k) {
      t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < reps; ++i) augment(img, configs[k], i, size, out.data());
      warp_us[k] = std::min(warp_us[k], seconds_since(t0) / reps * 1e6);
    }
  }

  // The data path: read + decode + augment every file, both configurations
  // alternated (A B A B), best of 2 each.
  double path_s[kConfigs] = {1e30, 1e30, 1e30};
  for (int round = 0; round < 2; ++round) {
    for (int k = 0; k < kConfigs; ++k) {
      t0 = std::chrono::steady_clock::now();
      tbb::parallel_for(tbb::blocked_range<int64_t>(0, n, 16),
                        [&](const tbb::blocked_range<int64_t>& r) {
                          std::vector<uint8_t> dst(static_cast<size_t>(size) * size * 3);
                          for (int64_t i = r.begin(); i != r.end(); ++i) {
                            sluice::Image im;
                            if (!sluice::data::decode_image_file(index.samples[i].path, {},
                                                                 sluice::data::heap_buffer, im)
                                     .ok()) {
                              continue;
                            }
                            augment(im, configs[k], static_cast<uint64_t>(i), size, dst.data());
                          }
                        });
      path_s[k] = std::min(path_s[k], seconds_since(t0));
    }
  }

  std::printf("images: %lld\nthreads: %d\nfailures: %lld\nwall_seconds: %.3f\n",
              static_cast<long long>(n), threads, static_cast<long long>(failures.load()),
              decode_s);
  std::printf("decode_only_images_per_second: %.1f\n", n / decode_s);
  std::printf("warp_us_per_image_1_thread: %.1f\n", warp_us[0]);
  std::printf("warp_rotation_shift_brightness_us_per_image_1_thread: %.1f\n", warp_us[1]);
  std::printf("path_shear_zoom_flip_images_per_second: %.1f\n", n / path_s[0]);
  std::printf("path_rotation_shift_brightness_images_per_second: %.1f\n", n / path_s[1]);
  std::printf("path_ratio_new_over_today: %.3f\n", path_s[0] / path_s[1]);
  std::printf("warp_shift_brightness_us_per_image_1_thread: %.1f\n", warp_us[2]);
  std::printf("path_shift_brightness_images_per_second: %.1f\n", n / path_s[2]);
  std::printf("path_ratio_shift_brightness_over_today: %.3f\n", path_s[0] / path_s[2]);
  return failures.load() == 0 ? 0 : 1;
}
