#include "pipeline/runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>
#include <tbb/flow_graph.h>
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <tbb/task_arena.h>

#include "pipeline/bundle.h"
#include "pipeline/clock.h"
#include "pipeline/config_writer.h"
#include "pipeline/node_bodies.h"
#include "pipeline/run_control.h"
#include "pipeline/trace.h"

namespace sluice {

namespace flow = tbb::flow;
using Clock = std::chrono::steady_clock;
using namespace detail;

StageFailure::StageFailure(std::string stage, std::string item, std::string cause)
    : std::runtime_error("stage '" + stage + "' failed" + (item.empty() ? "" : " on " + item) +
                         ": " + cause),
      stage_(std::move(stage)),
      item_(std::move(item)),
      cause_(std::move(cause)) {}

namespace {

using InputNode = flow::input_node<BundlePtr>;
using LimiterNode = flow::limiter_node<BundlePtr>;
using FunctionNode = flow::function_node<BundlePtr, BundlePtr>;
using SinkNode = flow::function_node<BundlePtr, flow::continue_msg>;
using SequencerNode = flow::sequencer_node<BundlePtr>;

struct SeqOf {
  size_t operator()(const Bundle* b) const { return static_cast<size_t>(b->seq); }
};

// Owns the graph and its nodes; nodes are destroyed before the graph.
struct GraphHolder {
  flow::graph graph;
  std::vector<std::unique_ptr<flow::graph_node>> nodes;
  ~GraphHolder() { nodes.clear(); }

  template <class N, class... A>
  N* add(A&&... args) {
    auto node = std::make_unique<N>(graph, std::forward<A>(args)...);
    N* raw = node.get();
    nodes.push_back(std::move(node));
    return raw;
  }
};

}  // namespace

std::vector<std::vector<size_t>> plan_chains(const ValidatedGraph& g, bool enabled) {
  const size_t n = g.stages.size();
  std::vector<std::vector<size_t>> chains;
  if (!enabled) return chains;
  // next[u] = the stage that runs in u's node right after u.
  std::vector<std::optional<size_t>> next(n);
  std::vector<bool> has_prev(n, false);
  for (size_t i = 0; i < n; ++i) {
    const ValidatedStage& vs = g.stages[i];
    if (vs.inputs.size() != 1 || !vs.concurrency.is_auto() || vs.entry->spec.ordered_input) {
      continue;
    }
    const ValidatedStage& up = g.stages[vs.inputs[0]];
    if (up.entry->spec.kind != StageKind::kTransform || up.outputs.size() != 1 ||
        !up.concurrency.is_auto()) {
      continue;
    }
    next[vs.inputs[0]] = i;
    has_prev[i] = true;
  }
  for (size_t i = 0; i < n; ++i) {
    if (has_prev[i] || !next[i]) continue;
    std::vector<size_t> c = {i};
    while (next[c.back()]) c.push_back(*next[c.back()]);
    chains.push_back(std::move(c));
  }
  return chains;
}

namespace {

using Runtimes = std::vector<std::unique_ptr<StageRuntime>>;

// The run's sizes: options first, then the config's [pipeline], then defaults.
struct RunSizes {
  int threads = 1;
  size_t max_in_flight = 2;
  int64_t seed = 0;
};

RunSizes resolve_sizes(const ValidatedGraph& g, const RunOptions& options) {
  RunSizes sizes;
  sizes.threads = options.threads > 0 ? options.threads : static_cast<int>(g.settings.threads);
  if (sizes.threads <= 0) sizes.threads = tbb::info::default_concurrency();
  size_t max_in_flight = options.max_in_flight > 0 ? options.max_in_flight
                         : g.settings.max_in_flight > 0
                             ? static_cast<size_t>(g.settings.max_in_flight)
                             : static_cast<size_t>(4 * sizes.threads + 16);
  sizes.max_in_flight = std::max<size_t>(max_in_flight, 2);
  sizes.seed = options.seed >= 0 ? options.seed : g.settings.seed;
  return sizes;
}

}  // namespace

void detail::StageRuntime::debug_marker(const Control& c) const {
  if (!logger->should_log(spdlog::level::debug)) return;
  // Epochs are counted from 1 wherever a person reads them.
  const std::string epoch = std::to_string(c.epoch + 1);
  switch (c.kind) {
    case ControlKind::kEndOfSplit:
      logger->debug("marker: end of split '{}' (epoch {})", c.split, epoch);
      break;
    case ControlKind::kEndOfEpoch:
      logger->debug("marker: end of epoch {}", epoch);
      break;
    case ControlKind::kEndOfStream:
      logger->debug("marker: end of stream");
      break;
  }
}

void detail::StageRuntime::debug_finish(const char* when) const {
  if (!logger->should_log(spdlog::level::debug)) return;
  uint64_t in = 0, out = 0, calls = 0, busy = 0, wait = 0;
  auto latency = std::make_unique<LatencyHistogram>();
  stats.total(in, out, calls, busy, wait, *latency);
  logger->debug("close: finish() {}; {} item(s) in, {} out", when, in, out);
}

namespace {

// Step 1, per stage: its factory, the base class its kind needs, open().
// Throws what the stage threw.
void start_stage(const ValidatedStage& vs, StageRuntime& rt) {
  rt.stage = vs.entry->factory(vs.params);
  if (!rt.stage) throw std::runtime_error("the stage factory returned nothing");
  switch (vs.entry->spec.kind) {
    case StageKind::kSource:
      rt.source = dynamic_cast<Source*>(rt.stage.get());
      break;
    case StageKind::kTransform:
      rt.transform = dynamic_cast<Transform*>(rt.stage.get());
      break;
    case StageKind::kSink:
      rt.sink = dynamic_cast<Sink*>(rt.stage.get());
      break;
  }
  if (!rt.source && !rt.transform && !rt.sink) {
    throw std::runtime_error(std::string("the stage type is declared as a ") +
                             stage_kind_name(vs.entry->spec.kind) +
                             " but its class does not derive from the matching base");
  }
  const auto t0 = std::chrono::steady_clock::now();
  rt.stage->open(*rt.ctx);
  rt.logger->debug("open: {} ({}) in {:.3f} s", vs.entry->spec.name,
                   stage_kind_name(vs.entry->spec.kind),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

// Step 1: instantiates and opens every stage before anything runs. On a
// failure, returns the runtimes so far and sets `failed_stage` and `error`.
Runtimes instantiate_stages(const ValidatedGraph& g, const RunSizes& sizes, RunControl& control,
                            CounterSet& counters, TraceRecorder* trace, std::string& failed_stage,
                            std::string& error) {
  Runtimes rts;
  for (size_t i = 0; i < g.stages.size(); ++i) {
    const ValidatedStage& vs = g.stages[i];
    auto rt = std::make_unique<StageRuntime>(static_cast<size_t>(sizes.threads) + 2);
    rt->index = i;
    rt->decl = &vs;
    rt->trace = trace;
    rt->logger = spdlog::default_logger()->clone(vs.id);
    rt->ctx = std::make_unique<StageContext>(vs.id, static_cast<uint64_t>(sizes.seed),
                                             rt->logger.get(), &counters, &control);
    try {
      start_stage(vs, *rt);
    } catch (const std::exception& e) {
      failed_stage = vs.id;
      error = e.what();
      return rts;
    }
    rts.push_back(std::move(rt));
  }
  return rts;
}

// The flow graph of one run, with what must outlive its nodes. Members are
// destroyed in reverse order: the nodes first, then the bundles and limiters
// they may still point into.
struct BuiltGraph {
  std::vector<std::unique_ptr<InFlight>> in_flight;
  // Every bundle of this run, freed with it: also those a cancelled graph
  // leaves in its buffers.
  std::unique_ptr<BundleArena> arena = std::make_unique<BundleArena>();
  std::unique_ptr<GraphHolder> holder = std::make_unique<GraphHolder>();
  std::vector<InputNode*> sources;
  std::vector<std::vector<size_t>> chains;
  // Per stage: its output sender, whether that stream is in order, and one
  // entry receiver per input.
  std::vector<flow::sender<BundlePtr>*> output;
  std::vector<bool> ordered;
  std::vector<std::vector<flow::receiver<BundlePtr>*>> entry;

  void tear_down() {
    for (auto& inf : in_flight) inf->decrementer.store(nullptr);
    holder.reset();  // a cancelled graph's buffers may still point into the arena
    arena.reset();   // frees every bundle, those buffers' included
  }
};

// Step 2, for a source: input_node -> limiter_node(max_in_flight - 1).
void build_source(size_t i, const ValidatedStage& vs, StageRuntime* rt, RunControl& control,
                  size_t max_in_flight, BuiltGraph& b) {
  auto inf = std::make_unique<InFlight>();
  auto* src = b.holder->add<InputNode>(
      SourceBody(rt, inf.get(), &control, static_cast<uint32_t>(vs.outputs.size())));
  auto* lim = b.holder->add<LimiterNode>(max_in_flight - 1);
  flow::make_edge(*src, *lim);
  inf->decrementer.store(&lim->decrementer());
  b.in_flight.push_back(std::move(inf));
  b.sources.push_back(src);
  b.output[i] = lim;
  b.ordered[i] = true;
}

// What feeds a stage's body: entry receivers (one per input), the node the
// body takes its input from (a merge or sequencer; null: straight from the
// input), and whether that stream is in order.
struct StageInput {
  std::vector<flow::receiver<BundlePtr>*> entries;
  flow::receiver<BundlePtr>* head = nullptr;
  flow::sender<BundlePtr>* merged = nullptr;
  bool ordered = true;
};

// The output of a serial node in the order its bodies ran. oneTBB (2021.8) starts
// a serial function_node's next body before it passes the current body's output on
// (function_input::apply_body_impl_bypass), so two outputs can swap places; the
// sequencer puts them back by sequence number.
flow::sender<BundlePtr>* in_order(FunctionNode* serial_node, BuiltGraph& b) {
  auto* seqr = b.holder->add<SequencerNode>(SeqOf{});
  flow::make_edge(*serial_node, *seqr);
  return seqr;
}

// Whether any consumer of stage `i`'s output depends on its order: a serial or
// order-declaring stage, or a merge. (A parallel consumer reorders it anyway.)
bool order_matters(size_t i, const ValidatedGraph& g) {
  for (size_t c : g.stages[i].outputs) {
    const ValidatedStage& consumer = g.stages[c];
    if (!consumer.concurrency.is_auto() || consumer.entry->spec.ordered_input ||
        consumer.inputs.size() > 1) {
      return true;
    }
  }
  return false;
}

// Step 2, a stage's input side: several streams merge into one (each put in
// order first); a sequencer goes in front of a stage that wants order.
StageInput build_input(const ValidatedStage& vs, BuiltGraph& b) {
  StageInput in;
  if (vs.inputs.size() > 1) {
    auto* merge = b.holder->add<FunctionNode>(flow::serial, MergeBody(vs.inputs.size()));
    for (size_t k = 0; k < vs.inputs.size(); ++k) {
      if (b.ordered[vs.inputs[k]]) {
        in.entries.push_back(merge);
      } else {
        auto* seqr = b.holder->add<SequencerNode>(SeqOf{});
        flow::make_edge(*seqr, *merge);
        in.entries.push_back(seqr);
      }
    }
    in.merged = in_order(merge, b);
  } else {
    in.ordered = b.ordered[vs.inputs[0]];
  }
  if (vs.entry->spec.ordered_input && !in.ordered) {
    auto* seqr = b.holder->add<SequencerNode>(SeqOf{});
    if (in.merged) flow::make_edge(*in.merged, *seqr);
    in.head = seqr;
    in.merged = seqr;
    in.ordered = true;
  }
  return in;
}

// Step 2, for a transform or sink: its input side, then one node running it
// and the stages chained to it (see RunOptions::chain).
void build_stage(size_t i, const ValidatedGraph& g, const Runtimes& rts,
                 const std::vector<size_t>* chain, BuiltGraph& b) {
  const ValidatedStage& vs = g.stages[i];
  StageInput in = build_input(vs, b);
  const size_t limit =
      vs.concurrency.is_auto() ? static_cast<size_t>(flow::unlimited) : vs.concurrency.limit;
  rts[i]->in_stream_finish = in.ordered && limit == 1;
  std::vector<StageRuntime*> members = {rts[i].get()};
  if (chain) {
    for (size_t k = 1; k < chain->size(); ++k) members.push_back(rts[(*chain)[k]].get());
  }
  const size_t last = members.back()->index;
  const auto consumers = static_cast<uint32_t>(g.stages[last].outputs.size());
  flow::receiver<BundlePtr>* body_node = nullptr;
  if (members.back()->sink) {
    body_node = b.holder->add<SinkNode>(limit, [body = ChainBody(members, 0)](Bundle* x) mutable {
      body(x);
      return flow::continue_msg();
    });
  } else {
    auto* node = b.holder->add<FunctionNode>(limit, ChainBody(members, consumers));
    body_node = node;
    b.ordered[last] = in.ordered && limit == 1 && order_matters(last, g);
    b.output[last] = b.ordered[last] ? in_order(node, b) : node;
  }
  if (in.merged) {
    flow::make_edge(*in.merged, *body_node);
  } else if (!in.head) {
    in.head = body_node;
  }
  if (vs.inputs.size() == 1) in.entries.push_back(in.head);
  b.entry[i] = std::move(in.entries);
}

// Step 2: the flow graph, per stage in topological order, then its edges.
std::unique_ptr<BuiltGraph> build_graph(const ValidatedGraph& g, const RunOptions& options,
                                        const Runtimes& rts, RunControl& control,
                                        size_t max_in_flight) {
  const size_t n = g.stages.size();
  auto b = std::make_unique<BuiltGraph>();
  for (auto& rt : rts) rt->arena = b->arena.get();
  b->output.assign(n, nullptr);
  b->ordered.assign(n, false);
  b->entry.resize(n);
  b->chains = plan_chains(g, options.chain.value_or(g.settings.chain));
  std::vector<bool> chained_in(n, false);  // runs in an earlier stage's node
  std::vector<const std::vector<size_t>*> chain_of(n, nullptr);
  for (const auto& c : b->chains) {
    chain_of[c.front()] = &c;
    for (size_t k = 1; k < c.size(); ++k) chained_in[c[k]] = true;
  }
  for (size_t i = 0; i < n; ++i) {
    if (chained_in[i]) continue;  // built with its chain's first stage
    if (g.stages[i].entry->spec.kind == StageKind::kSource) {
      build_source(i, g.stages[i], rts[i].get(), control, max_in_flight, *b);
    } else {
      build_stage(i, g, rts, chain_of[i], *b);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (chained_in[i]) continue;  // its input is inside its chain's node
    const ValidatedStage& vs = g.stages[i];
    for (size_t k = 0; k < vs.inputs.size(); ++k) {
      flow::make_edge(*b->output[vs.inputs[k]], *b->entry[i][k]);
    }
  }
  return b;
}

// How the graph ended.
struct RunOutcome {
  std::exception_ptr failure;
  bool cancelled = false;
  double wall_s = 0;
};

// Step 3: activates the sources and waits for the graph to drain. A second
// SIGINT/SIGTERM ends the process from its handler (run_control.cpp).
RunOutcome run_to_end(BuiltGraph& b, TraceRecorder* trace) {
  RunOutcome out;
  const auto t0 = Clock::now();
  if (trace) trace->set_origin(ticks_now());
  try {
    for (auto* s : b.sources) s->activate();
    b.holder->graph.wait_for_all();
  } catch (...) {
    out.failure = std::current_exception();
  }
  out.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  out.cancelled = b.holder->graph.is_cancelled();
  return out;
}

// Step 4: stages that could not finish in-stream (unordered input) finish now.
void finish_after_drain(const Runtimes& rts, RunOutcome& out) {
  if (out.failure || out.cancelled) return;
  for (auto& rt : rts) {
    if (rt->source || rt->finished.exchange(true)) continue;
    std::vector<Packet> dropped;
    Emitter em(dropped);
    rt->debug_finish("once the graph drained");
    try {
      rt->stage->finish(em);
    } catch (const std::exception& e) {
      out.failure = std::make_exception_ptr(StageFailure(rt->decl->id, "end of stream", e.what()));
      return;
    }
    if (!dropped.empty()) {
      rt->logger->warn(
          "finish() emitted {} item(s) after the end of the stream; they were dropped "
          "(declare the stage .ordered() and serial to emit in-stream)",
          dropped.size());
    }
  }
}

// Step 3, alongside: the timeline sampler's view of the graph. The current
// epoch is that of the slowest stage that sees epoch markers, from 1.
TimelineSampler::Probe make_probe(const ValidatedGraph& g, const Runtimes& rts, const BuiltGraph& b,
                                  const RunControl& control) {
  TimelineSampler::Probe probe;
  std::vector<const StageRuntime*> epoch_stages;
  int64_t epochs = 0;
  for (size_t i = 0; i < g.stages.size(); ++i) {
    probe.stages.push_back(&rts[i]->stats);
    epochs = std::max(epochs, g.stages[i].output_spec.epochs);
    bool marked = false;
    for (size_t j : g.stages[i].inputs) marked = marked || g.stages[j].output_spec.epochs > 0;
    if (marked) epoch_stages.push_back(rts[i].get());
  }
  probe.in_flight = [&b] {
    int64_t n = 0;
    for (const auto& inf : b.in_flight) n += std::max<int64_t>(inf->current(), 0);
    return n;
  };
  probe.epoch = [epoch_stages, epochs, &control]() -> int64_t {
    if (epoch_stages.empty()) return 0;
    int64_t done = INT64_MAX;
    for (const StageRuntime* rt : epoch_stages) {
      const int64_t d = rt->epochs_done.load(std::memory_order_relaxed);
      done = std::min(done, d < 0 ? control.start_epoch() : d);
    }
    return epochs > 0 ? std::min(done + 1, epochs) : done + 1;
  };
  return probe;
}

// What a watcher (RunOptions::monitor) is told when the graph starts.
void begin_monitor(RunMonitor& monitor, const ValidatedGraph& g, const RunReport& report) {
  std::vector<MonitoredStage> stages;
  int64_t epochs = 0;
  for (const ValidatedStage& vs : g.stages) {
    const size_t eff = vs.concurrency.is_auto()
                           ? static_cast<size_t>(report.threads)
                           : std::min<size_t>(vs.concurrency.limit, report.threads);
    stages.push_back({vs.id, vs.entry->spec.name, stage_kind_name(vs.entry->spec.kind),
                      vs.concurrency.to_string(), std::max<size_t>(eff, 1)});
    epochs = std::max(epochs, vs.output_spec.epochs);
  }
  monitor.begin(report.pipeline, std::move(stages), report.threads, report.max_in_flight, epochs);
}

// Step 5: the run's status and error.
void report_status(const RunOutcome& out, const RunControl& control, RunReport& report) {
  if (out.failure) {
    report.status = RunStatus::kFailed;
    try {
      std::rethrow_exception(out.failure);
    } catch (const StageFailure& e) {
      report.error = e.what();
      report.failed_stage = e.stage();
    } catch (const std::exception& e) {
      report.error = e.what();
    } catch (...) {
      report.error = "unknown error";
    }
  } else if (signals_received() > 0) {
    report.status = RunStatus::kInterrupted;
  } else if (out.cancelled) {
    report.status = RunStatus::kFailed;
    report.error = "the graph was cancelled";
  } else if (control.stop_requested()) {
    report.status = RunStatus::kStopped;
  }
}

// Step 5: each stage's profile, the bottleneck, the chains.
void report_stages(const ValidatedGraph& g, const Runtimes& rts, const BuiltGraph& b, int threads,
                   RunReport& report) {
  for (size_t i = 0; i < g.stages.size(); ++i) {
    const ValidatedStage& vs = g.stages[i];
    size_t eff = vs.concurrency.is_auto() ? static_cast<size_t>(threads)
                                          : std::min<size_t>(vs.concurrency.limit, threads);
    StageProfile p = make_profile(rts[i]->stats, report.wall_s, eff);
    p.id = vs.id;
    p.type = vs.entry->spec.name;
    p.kind = stage_kind_name(vs.entry->spec.kind);
    p.concurrency = vs.concurrency.to_string();
    report.stages.push_back(std::move(p));
  }
  mark_bottleneck(report.stages);
  for (const auto& c : b.chains) {
    std::vector<std::string> ids;
    for (size_t i : c) ids.push_back(g.stages[i].id);
    report.chains.push_back(std::move(ids));
  }
}

// Step 5: the Chrome trace, when asked for.
void report_trace(TraceRecorder* trace, const std::string& path, RunReport& report) {
  if (!trace) return;
  try {
    trace->write(path);
    report.trace_note = trace->note();
  } catch (const std::exception& e) {
    report.trace_error = e.what();
  }
}

}  // namespace

// The steps: instantiate and open the stages, build the flow graph, run it to
// the end, finish the stages that could not finish in-stream, report.
RunReport run_graph(const ValidatedGraph& g, const RunOptions& options) {
  RunReport report;
  report.pipeline = g.name.empty() ? g.path : g.name;
  const RunSizes sizes = resolve_sizes(g, options);
  report.threads = sizes.threads;
  report.max_in_flight = sizes.max_in_flight;

  tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism,
                                  static_cast<size_t>(sizes.threads));
  RunControl control;
  control.threads = sizes.threads;
  control.config_toml = resolved_config_toml(g);
  for (const ValidatedStage& vs : g.stages) {
    auto& specs = control.input_specs[vs.id];
    for (size_t j : vs.inputs) specs.push_back(g.stages[j].output_spec);
  }
  CounterSet counters;
  std::optional<SignalGuard> signals;
  reset_signals();
  if (options.handle_signals) signals.emplace();
  std::unique_ptr<TraceRecorder> trace;
  if (!options.trace_path.empty()) {
    std::vector<std::string> names;
    for (const auto& s : g.stages) names.push_back(s.id);
    trace = std::make_unique<TraceRecorder>(names, sizes.threads + 2);
  }

  RunMonitor* monitor = options.monitor;
  if (monitor) control.live = &monitor->live();

  std::string failed_stage, error;
  const Runtimes rts =
      instantiate_stages(g, sizes, control, counters, trace.get(), failed_stage, error);
  if (!failed_stage.empty()) {
    report.status = RunStatus::kFailed;
    report.failed_stage = failed_stage;
    report.error = "stage '" + failed_stage + "' failed to start: " + error;
    if (monitor) monitor->end(run_status_name(report.status), report.error);
    return report;
  }
  std::unique_ptr<BuiltGraph> built = build_graph(g, options, rts, control, sizes.max_in_flight);
  std::vector<std::string> ids;
  for (const auto& s : g.stages) ids.push_back(s.id);
  TimelineSampler::Listener listener;
  if (monitor) {
    begin_monitor(*monitor, g, report);
    listener = [monitor](const Timeline& t) { monitor->update(t); };
  }
  TimelineSampler sampler(Timeline(ids, options.timeline_interval_s, options.timeline_max_samples),
                          make_probe(g, rts, *built, control), std::move(listener));
  sampler.start();
  RunOutcome outcome = run_to_end(*built, trace.get());
  finish_after_drain(rts, outcome);
  report.timeline = sampler.stop();
  built->tear_down();

  report.wall_s = outcome.wall_s;
  for (const auto& inf : built->in_flight) {
    report.peak_in_flight = std::max(report.peak_in_flight, static_cast<size_t>(inf->peak));
  }
  report_status(outcome, control, report);
  report_stages(g, rts, *built, sizes.threads, report);
  report.counters = counters.snapshot();
  report_trace(trace.get(), options.trace_path, report);
  if (monitor) monitor->end(run_status_name(report.status), report.error);
  return report;
}

}  // namespace sluice
