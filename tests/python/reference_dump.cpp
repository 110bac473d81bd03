// The C++ side of the Python content test: runs a pipeline config with the
// built-in stages plus `test.dump`, a sink that writes what each Batch holds
// (split, epoch, ids, labels) as text and its pixels as raw bytes, exactly as
// a C++ consumer of the graph sees them. tests/python/test_content.py runs the
// same config from Python and compares.
//
//   python_reference_dump CONFIG [--set STAGE.KEY=VALUE]...
//
// Example config:
//   [stages.dump]
//   use = "test.dump"
//   input = "batch"
//   text = "out/batches.txt"
//   pixels = "out/pixels.bin"
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "pipeline/registry.h"
#include "pipeline/runner.h"
#include "pipeline/validate.h"
#include "stages/data/data_stages.h"
#include "stages/generic/generic_stages.h"
#include "vision/payloads.h"

namespace {

using namespace sluice;

class Dump : public Sink {
 public:
  explicit Dump(const Params& p)
      : text_(p.get_string("text")), pixels_(p.get_string("pixels"), std::ios::binary) {}
  void consume(std::any& in) override {
    const Batch& b = payload_as<Batch>(in);
    text_ << "batch " << b.split << ' ' << b.epoch << ' ' << b.size << ' ' << b.height << ' '
          << b.width << ' ' << b.channels << '\n';
    for (int i = 0; i < b.size; ++i) {
      text_ << b.ids[static_cast<size_t>(i)] << ' ' << b.labels[static_cast<size_t>(i)] << '\n';
    }
    pixels_.write(reinterpret_cast<const char*>(b.pixels.get()),
                  static_cast<std::streamsize>(b.image_bytes() * static_cast<size_t>(b.size)));
  }
  void on_control(const Control& c, Emitter&) override {
    const char* kind = c.kind == ControlKind::kEndOfSplit ? "end_of_split" : "end_of_epoch";
    text_ << "-- " << kind << ' ' << c.split << ' ' << c.epoch << '\n';
  }

 private:
  std::ofstream text_;
  std::ofstream pixels_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: python_reference_dump CONFIG [--set STAGE.KEY=VALUE]...\n";
    return 2;
  }
  std::vector<std::string> overrides;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--set") overrides.emplace_back(argv[i + 1]);
  }
  Registry registry;
  register_generic_stages(registry);
  register_data_stages(registry);
  registry.add<Dump>(StageSpec("test.dump")
                         .sink<Batch>()
                         .ordered()
                         .doc("writes batches for the Python content test")
                         .param(ParamSpec::required("text", ParamType::kString, "text file"))
                         .param(ParamSpec::required("pixels", ParamType::kString, "pixel file")));
  try {
    ValidatedGraph g = load_pipeline(argv[1], overrides, registry);
    RunReport r = run_graph(g);
    if (r.status != RunStatus::kCompleted) {
      std::cerr << "run " << run_status_name(r.status) << ": " << r.error << '\n';
      return 1;
    }
  } catch (const ConfigError& e) {
    std::cerr << e.what() << '\n';
    return 2;
  }
  return 0;
}
