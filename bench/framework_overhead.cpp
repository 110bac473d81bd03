// Framework overhead, measured side by side in one process:
//  1. trivial stages: a hand-written tbb::flow graph (input_node ->
//     limiter_node -> three function_nodes) against the same shape described
//     in TOML and run by sluice with profiling on, as sluice runs it by
//     default (the three `auto` stages chained in one node) and with chaining
//     off (one node per stage, like the hand-written graph);
//  2. CPU-bound stages: three stages of `micros` of work per item each,
//     against the ideal throughput threads / (3 x micros).
//  3. the live dashboard's cost (where the build has it): the trivial-stage
//     graph without and with `--dashboard` (server started, a client fetching
//     /api/status every 250 ms, 4x what the page does), run after run
//     alternating; the median of the pairs' ratios is the figure (target: the
//     dashboard costs < 2%).
// Each measurement is repeated and the best run kept (shared, noisy machines).
//
//   build/bench/bench_framework [--items N] [--threads T] [--micros U] [--repeat R]
//                               [--only tbb|sluice] [--dashboard-pairs P] [--serial 1]
// (--micros 0 runs the trivial-stage comparison only; --only runs one side of it,
// for profiling; --dashboard-pairs 0 skips the dashboard comparison)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <tbb/flow_graph.h>
#include <tbb/global_control.h>

#include "pipeline/registry.h"
#include "pipeline/runner.h"
#include "pipeline/validate.h"
#include "stages/generic/generic_stages.h"
#if SLUICE_BENCH_DASHBOARD
#include <httplib.h>

#include "tools/dashboard/dashboard_server.h"
#endif

namespace {

using Clock = std::chrono::steady_clock;

double hand_written(int64_t items, int threads, size_t in_flight) {
  namespace flow = tbb::flow;
  tbb::global_control gc(tbb::global_control::max_allowed_parallelism, threads);
  flow::graph g;
  int64_t next = 0;
  flow::input_node<int64_t> src(g, [&](tbb::flow_control& fc) -> int64_t {
    if (next >= items) {
      fc.stop();
      return 0;
    }
    return next++;
  });
  flow::limiter_node<int64_t> lim(g, in_flight);
  flow::function_node<int64_t, int64_t> a(g, flow::unlimited, [](int64_t v) { return v * 3; });
  flow::function_node<int64_t, int64_t> b(g, flow::unlimited, [](int64_t v) { return v + 1; });
  std::atomic<int64_t> sum{0};
  flow::function_node<int64_t, flow::continue_msg> c(g, flow::unlimited, [&](int64_t v) {
    sum.fetch_add(v, std::memory_order_relaxed);
    return flow::continue_msg();
  });
  flow::make_edge(src, lim);
  flow::make_edge(lim, a);
  flow::make_edge(a, b);
  flow::make_edge(b, c);
  flow::make_edge(c, lim.decrementer());
  auto t0 = Clock::now();
  src.activate();
  g.wait_for_all();
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (sum.load() == 42) std::puts("");  // keep the work observable
  return items / s;
}

double sluice_graph(const std::string& toml, int threads, size_t in_flight, bool chain = true,
                    sluice::RunReport* out = nullptr, sluice::RunMonitor* monitor = nullptr) {
  sluice::Registry reg;
  sluice::register_generic_stages(reg);
  sluice::ValidatedGraph g = sluice::load_pipeline_string(toml, "bench.toml", {}, reg);
  sluice::RunOptions opts;
  opts.threads = threads;
  opts.max_in_flight = in_flight;
  opts.chain = chain;
  opts.monitor = monitor;
  sluice::RunReport r = sluice::run_graph(g, opts);
  if (r.status != sluice::RunStatus::kCompleted) {
    std::cerr << "run failed: " << r.error << '\n';
    std::exit(1);
  }
  double items = static_cast<double>(r.stages.front().items_out);
  if (out) *out = r;
  return items / r.wall_s;
}

#if SLUICE_BENCH_DASHBOARD
// The trivial-stage graph watched by a dashboard that a client polls.
double sluice_with_dashboard(const std::string& toml, int threads, size_t in_flight, int* polls) {
  sluice::RunMonitor monitor;
  sluice::dashboard::DashboardServer server(monitor);
  server.start({"127.0.0.1", 0});
  std::atomic<bool> done{false};
  std::thread poller([&] {
    httplib::Client client("127.0.0.1", server.port());
    while (!done) {
      if (auto res = client.Get("/api/status"); res && res->status == 200) ++*polls;
      for (int i = 0; i < 25 && !done; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  const double rate = sluice_graph(toml, threads, in_flight, true, nullptr, &monitor);
  done = true;
  poller.join();
  server.stop();
  return rate;
}

// Pairs of runs, off then on (then on then off, alternating the order): the
// median of on/off.
void compare_dashboard(const std::string& toml, int threads, size_t in_flight, int pairs,
                       int64_t items) {
  std::vector<double> ratios, off, on;
  int polls = 0;
  for (int p = 0; p < pairs; ++p) {
    double a, b;
    if (p % 2 == 0) {
      a = sluice_graph(toml, threads, in_flight);
      b = sluice_with_dashboard(toml, threads, in_flight, &polls);
    } else {
      b = sluice_with_dashboard(toml, threads, in_flight, &polls);
      a = sluice_graph(toml, threads, in_flight);
    }
    off.push_back(a);
    on.push_back(b);
    ratios.push_back(b / a);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  };
  std::printf("dashboard on/off, trivial stages, %lld items, %d threads (%d pairs, alternating)\n",
              static_cast<long long>(items), threads, pairs);
  std::printf("  sluice, no dashboard (median) : %10.0f items/s\n", median(off));
  std::printf("  sluice, dashboard (median)    : %10.0f items/s  (%d status fetches)\n", median(on),
              polls);
  std::printf("  ratio on/off, median of pairs : %10.3f   (target >= 0.98)\n", median(ratios));
  std::printf("  ratio of the medians          : %10.3f\n", median(on) / median(off));
  std::printf("  ratio on/off, min / max       : %10.3f / %.3f\n",
              *std::min_element(ratios.begin(), ratios.end()),
              *std::max_element(ratios.begin(), ratios.end()));
}
#endif

}  // namespace

int main(int argc, char** argv) {
  int64_t items = 1'000'000;
  int threads = 2;
  double micros = 50;
  int repeat = 5;
  std::string only;
  int dashboard_pairs = 10;
  bool serial = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--dashboard-pairs")) dashboard_pairs = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--items")) items = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--micros")) micros = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--repeat")) repeat = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--only")) only = argv[i + 1];
    if (!std::strcmp(argv[i], "--serial")) serial = std::atoi(argv[i + 1]) != 0;
  }
  spdlog::set_level(spdlog::level::warn);
  const size_t in_flight = 64;

  // --serial 1: the two scale stages serial, so their outputs go on in order.
  const std::string concurrency = serial ? "concurrency = \"serial\"\n" : "";
  const std::string trivial = R"(
[stages.numbers]
use = "gen.range"
count = )" + std::to_string(items) +
                              R"(
[stages.a]
use = "math.scale"
input = "numbers"
factor = 3
)" + concurrency + R"([stages.b]
use = "math.scale"
input = "a"
offset = 1
)" + concurrency + R"([stages.c]
use = "util.discard"
input = "b"
)";
  double best_tbb = 0, best_sluice = 0, best_unchained = 0;
  for (int r = 0; r < repeat; ++r) {
    if (only != "sluice") best_tbb = std::max(best_tbb, hand_written(items, threads, in_flight));
    if (only != "tbb") {
      best_sluice = std::max(best_sluice, sluice_graph(trivial, threads, in_flight));
      best_unchained = std::max(best_unchained, sluice_graph(trivial, threads, in_flight, false));
    }
  }
  std::printf("trivial stages%s, %lld items, %d threads, %zu in flight (best of %d)\n",
              serial ? " (two of them serial)" : "", static_cast<long long>(items), threads,
              in_flight, repeat);
  std::printf("  hand-written tbb::flow     : %10.0f items/s\n", best_tbb);
  std::printf("  sluice (profiling on)      : %10.0f items/s\n", best_sluice);
  std::printf("  sluice, chaining off       : %10.0f items/s\n", best_unchained);
  std::printf("  ratio sluice/tbb           : %10.2f   (target >= 0.50)\n", best_sluice / best_tbb);
  std::printf("  ratio, chaining off        : %10.2f\n", best_unchained / best_tbb);
#if SLUICE_BENCH_DASHBOARD
  if (dashboard_pairs > 0 && only.empty()) {
    compare_dashboard(trivial, threads, in_flight, dashboard_pairs, items);
  }
#endif

  if (micros <= 0) return 0;  // --micros 0: trivial-stage comparison only
  const int64_t work_items = static_cast<int64_t>(2.0e6 / micros);  // ~6 s of work at 2 threads
  const std::string busy = R"(
[stages.numbers]
use = "gen.range"
count = )" + std::to_string(work_items) +
                           R"(
[stages.s1]
use = "work.spin"
input = "numbers"
micros = )" + std::to_string(micros) +
                           R"(
[stages.s2]
use = "work.spin"
input = "s1"
micros = )" + std::to_string(micros) +
                           R"(
[stages.s3]
use = "work.spin"
input = "s2"
micros = )" + std::to_string(micros) +
                           R"(
[stages.out]
use = "util.discard"
input = "s3"
)";
  double best_busy = 0;
  sluice::RunReport report;
  for (int r = 0; r < repeat; ++r) {
    sluice::RunReport rr;
    double v = sluice_graph(busy, threads, in_flight, true, &rr);
    if (v > best_busy) best_busy = v, report = rr;
  }
  double ideal = threads / (3 * micros * 1e-6);
  std::printf("3 stages x %.0f us of work, %lld items, %d threads (best of %d)\n", micros,
              static_cast<long long>(work_items), threads, repeat);
  std::printf("  ideal                  : %10.0f items/s\n", ideal);
  std::printf("  sluice                 : %10.0f items/s\n", best_busy);
  std::printf("  efficiency             : %10.1f%%  (target >= 90%%)\n", 100 * best_busy / ideal);
  sluice::print_profile_table(std::cout, report, true);
  return 0;
}
