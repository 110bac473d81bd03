// `sluice bench data`: measures the input pipeline alone -- celeba.index (or,
// with --manifest, shard.index) -> image.decode -> image.augment -> batch ->
// util.discard over the train split -- and prints images_per_second and the
// per-stage profile.
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "pipeline/runner.h"
#include "tools/sluice/cli_common.h"
#include "tools/sluice/command.h"

namespace sluice::cli {

#if SLUICE_WITH_TORCH
int bench_train(const std::vector<std::string>& args);  // bench_train.cpp
#endif

namespace {

std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

int bench_data(const std::vector<std::string>& args) {
  std::string root, manifest, fill = "nearest";
  int threads = 0, batch = 32, size = 224, epochs = 1;
  int64_t limit = -1;
  double shear = 0.2, zoom = 0.2;
  bool fast_dct = false;
  std::string profile_path;
  po::options_description o("options");
  o.add_options()("root", po::value(&root), "CelebA folder (either layout)")(
      "manifest", po::value(&manifest), "read WebDataset shards (shard.index) instead of --root")(
      "threads,j", po::value(&threads)->default_value(0), "worker threads (0: all cores)")(
      "batch", po::value(&batch)->default_value(32), "batch size")(
      "size", po::value(&size)->default_value(224), "output width and height")(
      "limit", po::value(&limit)->default_value(-1), "use only the first N train images")(
      "epochs", po::value(&epochs)->default_value(1), "passes over the data")(
      "shear", po::value(&shear)->default_value(0.2), "shear range (degrees)")(
      "zoom", po::value(&zoom)->default_value(0.2), "zoom range z: [1-z, 1+z]")(
      "fill", po::value(&fill)->default_value(fill), "fill mode")(
      "fast-dct", po::bool_switch(&fast_dct), "use the faster, less exact JPEG IDCT")(
      "profile", po::value(&profile_path), "also write the profile as JSON here");
  add_logging_options(o);
  po::positional_options_description pos;
  po::variables_map vm;
  if (auto code =
          parse_command_line("bench data", "--root DIR | --manifest FILE [--threads N] [--batch B]",
                             args, o, pos, vm)) {
    return *code;
  }
  apply_logging_options(vm);
  const std::string cmd = "bench data";
  int side = 0;
  if (!option_ok(cmd, "threads", threads_option_spec(), static_cast<int64_t>(threads)) ||
      !option_ok(cmd, "batch", builtin_param("image.batch", "batch_size"),
                 static_cast<int64_t>(batch)) ||
      !parse_size_option(cmd, std::to_string(size) + "x" + std::to_string(size), side, side) ||
      !option_ok(cmd, "limit", builtin_param("celeba.index", "limit"), limit) ||
      !option_ok(cmd, "epochs", builtin_param("celeba.index", "epochs"),
                 static_cast<int64_t>(epochs)) ||
      !option_ok(cmd, "shear", builtin_param("image.augment", "shear"), shear) ||
      !option_ok(cmd, "zoom", builtin_param("image.augment", "zoom"), std::vector<double>{zoom}) ||
      !option_ok(cmd, "fill", builtin_param("image.augment", "fill_mode"), fill)) {
    return kExitConfigError;
  }
  if (root.empty() == manifest.empty()) {
    std::cerr << "sluice bench data: give --root (a CelebA folder) or --manifest (shards)\n";
    return kExitConfigError;
  }
  if (!(zoom < 1)) {
    std::cerr << "sluice bench data: --zoom z means [1 - z, 1 + z] and must be below 1, got "
              << zoom << '\n';
    return kExitConfigError;
  }
  std::ostringstream t;
  t << "[pipeline]\nname = \"bench-data\"\nseed = 1\n\n"
    << "[stages.index]\n"
    << (manifest.empty() ? "use = \"celeba.index\"\nroot = " + toml_string(root)
                         : "use = \"shard.index\"\nmanifest = " + toml_string(manifest))
    << "\nsplit = \"train\"\nshuffle = true\nepochs = " << epochs << "\nlimit = " << limit
    << "\n\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\nfast_dct = "
    << (fast_dct ? "true" : "false") << "\n\n[stages.augment]\nuse = \"image.augment\"\n"
    << "input = \"decode\"\nwidth = " << size << "\nheight = " << size << "\nshear = " << shear
    << "\nzoom = " << zoom << "\nflip = true\nfill_mode = " << toml_string(fill)
    << "\nrescale = 0.00392156862745098\n\n[stages.batch]\nuse = \"image.batch\"\ninput = "
       "\"augment\"\n"
    << "batch_size = " << batch << "\n\n[stages.sink]\nuse = \"util.discard\"\ninput = \"batch\"\n";
  Registry registry = make_registry({});
  ValidatedGraph graph;
  try {
    graph = load_pipeline_string(t.str(), "<bench data>", {}, registry);
  } catch (const ConfigError& e) {
    print_diagnostics(std::cerr, e.diagnostics());
    return kExitConfigError;
  }
  RunOptions ro;
  ro.threads = threads;
  ro.handle_signals = true;
  const RunReport report = run_graph(graph, ro);
  if (report.status == RunStatus::kFailed) {
    std::cerr << "sluice bench data: error: " << report.error << '\n';
    return kExitFailure;
  }
  uint64_t images = 0;
  for (const StageProfile& s : report.stages) {
    if (s.id == "augment") images = s.items_out;
  }
  print_profile_table(std::cout, report, true);
  std::cout << std::fixed << std::setprecision(1) << "images: " << images
            << "\nthreads: " << report.threads << "\nwall_seconds: " << std::setprecision(3)
            << report.wall_s << "\nimages_per_second: " << std::setprecision(1)
            << (report.wall_s > 0 ? images / report.wall_s : 0.0) << '\n';
  if (!profile_path.empty()) {
    try {
      write_profile_json(profile_path, report);
    } catch (const std::exception& e) {
      std::cerr << "sluice bench data: error: " << e.what() << '\n';
      return kExitFailure;
    }
  }
  return kExitOk;
}

int bench_cmd(const std::vector<std::string>& args) {
  if (args.empty() || (args[0] != "data" && args[0] != "train")) {
    const bool help = !args.empty() && (args[0] == "--help" || args[0] == "-h");
    if (!help) {
      std::cerr << "sluice bench: "
                << (args.empty() ? std::string("name what to measure")
                                 : "unknown benchmark '" + args[0] + "'")
                << " (expected data or train)\n";
    }
    // --help is asked for: stdout, like every other command's help.
    (help ? std::cout : std::cerr)
        << "usage: sluice bench data --root DIR | --manifest FILE [--threads N] [--batch B]\n"
        << "       sluice bench train [--arch vgg16] [--size 224] [--batch 64] [--steps N]\n"
        << "`sluice bench data --help` and `sluice bench train --help` list their options.\n";
    return help ? kExitOk : kExitConfigError;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
#if SLUICE_WITH_TORCH
  if (args[0] == "train") return bench_train(rest);
#else
  if (args[0] == "train") {
    std::cerr << "sluice bench train: " << kNoTorchNote << '\n';
    return kExitConfigError;
  }
#endif
  return bench_data(rest);
}

}  // namespace

SLUICE_COMMAND(bench,
               "benchmark a part of the pipeline: `sluice bench data --root DIR`, "
               "`sluice bench train`",
               bench_cmd);

}  // namespace sluice::cli
