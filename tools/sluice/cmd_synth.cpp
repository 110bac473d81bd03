// `sluice synth`: writes a synthetic CelebA (Kaggle layout) of procedurally
// drawn faces, for demos, tests and benchmarks without the real dataset, with
// hair_colour.csv beside it: a 4-class label (black, brown, blond, gray hair) for
// csv.index (configs/hair-colour.toml).
#include <chrono>
#include <iostream>

#include <tbb/global_control.h>

#include "stages/data/synth_celeba.h"
#include "tools/sluice/cli_common.h"
#include "tools/sluice/command.h"

namespace sluice::cli {
namespace {

int synth_cmd(const std::vector<std::string>& args) {
  data::SynthOptions s;
  int threads = 0;
  po::options_description o("options");
  o.add_options()("out", po::value(&s.out)->required(), "dataset folder to create")(
      "count", po::value(&s.count)->default_value(1000), "number of images")(
      "seed", po::value(&s.seed)->default_value(0), "seed: same seed, same dataset")(
      "quality", po::value(&s.jpeg_quality)->default_value(92), "JPEG quality (1-100)")(
      "threads,j", po::value(&threads)->default_value(0), "worker threads (0: all cores)");
  po::positional_options_description pos;
  po::variables_map vm;
  if (auto code = parse_command_line("synth", "--out DIR --count N [--seed S]", args, o, pos, vm)) {
    return *code;
  }
  if (!option_ok("synth", "count",
                 ParamSpec::integer("count", 1000, "images").range(0, 100'000'000),
                 static_cast<int64_t>(s.count)) ||
      !option_ok("synth", "quality", ParamSpec::integer("quality", 92, "JPEG").range(1, 100),
                 static_cast<int64_t>(s.jpeg_quality)) ||
      !option_ok("synth", "threads", threads_option_spec(), static_cast<int64_t>(threads))) {
    return kExitConfigError;
  }
  std::unique_ptr<tbb::global_control> limit;
  if (threads > 0) {
    limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                  threads);
  }
  const auto start = std::chrono::steady_clock::now();
  try {
    data::write_synthetic_celeba(s);
  } catch (const std::exception& e) {
    std::cerr << "sluice synth: error: " << e.what() << '\n';
    return kExitFailure;
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int64_t counts[3] = {0, 0, 0};
  for (int64_t i = 0; i < s.count; ++i) ++counts[data::synthetic_partition(i, s.count)];
  std::cout << "wrote " << s.count << " images (train " << counts[0] << ", validation " << counts[1]
            << ", test " << counts[2] << ") to " << s.out << " in " << secs << " s\n"
            << "categorical label: " << s.out << "/" << data::kHairColourFile
            << " (hair_colour: black, brown, blond, gray)\n";
  return kExitOk;
}

}  // namespace

SLUICE_COMMAND(synth, "write a synthetic CelebA dataset (Kaggle layout)", synth_cmd);

}  // namespace sluice::cli
