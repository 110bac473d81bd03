// Baseline for `sluice bench data`: how fast the same JPEG files can merely be
// read and decoded to RGB with TurboJPEG on the same number of threads (no
// resize, no augmentation, no batching, no framework). Also times the fused
// warp alone, to show what augmentation adds per image.
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

  // Warp alone (single thread), on one decoded image, with a Keras-like draw.
  sluice::Image img;
  sluice::data::decode_image_file(index.samples.at(0).path, {}, sluice::data::heap_buffer, img);
  std::vector<uint8_t> out(static_cast<size_t>(size) * size * 3);
  sluice::data::AugmentRanges ranges{0.2, 0.8, 1.2, true};
  const int reps = 2000;
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) {
    sluice::CounterRng rng(1, 0, static_cast<uint64_t>(i));
    const auto t = sluice::data::sample_transform(ranges, rng);
    sluice::data::warp_affine({img.pixels.get(), img.width, img.height, 3, img.width * 3},
                              sluice::data::keras_inverse_map(t, img.width, img.height, size, size),
                              sluice::data::FillMode::kNearest, 0,
                              {out.data(), size, size, 3, size * 3});
  }
  const double warp_us = seconds_since(t0) / reps * 1e6;

  std::printf("images: %lld\nthreads: %d\nfailures: %lld\nwall_seconds: %.3f\n",
              static_cast<long long>(n), threads, static_cast<long long>(failures.load()),
              decode_s);
  std::printf("decode_only_images_per_second: %.1f\n", n / decode_s);
  std::printf("warp_us_per_image_1_thread: %.1f\n", warp_us);
  return failures.load() == 0 ? 0 : 1;
}
