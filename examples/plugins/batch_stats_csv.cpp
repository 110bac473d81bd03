// stats.batch_csv: writes one CSV row per Batch it receives: epoch (from 1), split,
// batch index, size, image size, mean pixel value (over all bytes, and per
// channel for RGB), and the label balance (how many labels are non-zero, i.e.
// positives of a 0/1 attribute, and their fraction). Pixel statistics are of
// the 8-bit values, before the batch's pending normalization. Rows are in
// stream order (the stage is ordered and serial); the file is complete when
// the run ends, including after Ctrl-C.
//
// Example config:
//   [stages.stats]
//   use = "stats.batch_csv"
//   input = "batch"
//   path = "batch_stats.csv"
//
// Output:
//   epoch,split,batch,size,height,width,mean_pixel,mean_r,mean_g,mean_b,positives,positive_fraction
//   1,train,0,32,224,224,101.734,125.102,95.881,84.219,14,0.4375
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <spdlog/spdlog.h>

#include "example_stages.h"
#include "pipeline/stage.h"
#include "vision/payloads.h"

namespace sluice_example {
namespace {

using sluice::Batch;

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

class BatchStatsCsv : public sluice::Sink {
 public:
  explicit BatchStatsCsv(const sluice::Params& p) : path_(p.get_string("path")) {}

  void open(sluice::StageContext& ctx) override {
    log_ = &ctx.log();
    const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    out_.open(path_, std::ios::out | std::ios::trunc);
    if (!out_) throw std::runtime_error("cannot open '" + path_ + "' for writing");
    out_ << "epoch,split,batch,size,height,width,mean_pixel,mean_r,mean_g,mean_b,positives,"
            "positive_fraction\n";
  }

  void consume(std::any& in) override {
    const Batch& b = sluice::payload_as<Batch>(in);
    const size_t c = static_cast<size_t>(b.channels);
    const size_t n = b.image_bytes() * static_cast<size_t>(b.size);
    uint64_t sums[4] = {0, 0, 0, 0};
    const uint8_t* px = b.pixels.get();
    if (c == 3) {
      for (size_t i = 0; i + 2 < n; i += 3) {
        sums[0] += px[i];
        sums[1] += px[i + 1];
        sums[2] += px[i + 2];
      }
    } else {
      for (size_t i = 0; i < n; ++i) sums[0] += px[i];
    }
    const uint64_t total = sums[0] + sums[1] + sums[2];
    const double pixels_per_channel = c ? static_cast<double>(n / c) : 0.0;
    int64_t positives = 0;
    for (int64_t label : b.labels) positives += label != 0;

    out_ << b.epoch + 1 << ',' << b.split << ',' << b.index << ',' << b.size << ',' << b.height
         << ',' << b.width << ',' << (n ? fixed(static_cast<double>(total) / n, 3) : "") << ',';
    for (size_t k = 0; k < 3; ++k) {
      if (c == 3 && n) out_ << fixed(sums[k] / pixels_per_channel, 3);
      out_ << ',';
    }
    out_ << positives << ','
         << (b.labels.empty() ? "" : fixed(static_cast<double>(positives) / b.labels.size(), 4))
         << '\n';
    ++rows_;
    if (!out_) throw std::runtime_error("write to '" + path_ + "' failed");
  }

  void finish(sluice::Emitter&) override {
    out_.flush();
    if (!out_) throw std::runtime_error("write to '" + path_ + "' failed");
    log_->info("wrote {} batch rows to {}", rows_, path_);
  }

 private:
  std::string path_;
  std::ofstream out_;
  int64_t rows_ = 0;
  spdlog::logger* log_ = nullptr;
};

}  // namespace

void register_batch_stats_csv(sluice::Registry& registry) {
  registry.add<BatchStatsCsv>(
      sluice::StageSpec("stats.batch_csv")
          .doc("Writes per-batch statistics (split, size, mean pixel, label balance) to CSV.",
               "One row per Batch, in stream order: epoch (from 1), split, batch, size,\n"
               "height, width, mean_pixel, mean_r, mean_g, mean_b (8-bit values, before\n"
               "normalization; channel columns empty unless RGB), positives (non-zero\n"
               "labels) and positive_fraction.")
          .sink<sluice::Batch>()
          .ordered()
          .param(sluice::ParamSpec::required("path", sluice::ParamType::kString,
                                             "CSV file to write (relative to the working "
                                             "directory; folders are created)")));
}

}  // namespace sluice_example
