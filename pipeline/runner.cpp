#include "pipeline/runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
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

RunReport run_graph(const ValidatedGraph& g, const RunOptions& options) {
  RunReport report;
  report.pipeline = g.name.empty() ? g.path : g.name;

  int threads = options.threads > 0 ? options.threads : static_cast<int>(g.settings.threads);
  if (threads <= 0) threads = tbb::info::default_concurrency();
  size_t max_in_flight = options.max_in_flight > 0 ? options.max_in_flight
                         : g.settings.max_in_flight > 0 ? static_cast<size_t>(g.settings.max_in_flight)
                                                        : static_cast<size_t>(4 * threads + 16);
  max_in_flight = std::max<size_t>(max_in_flight, 2);
  int64_t seed = options.seed >= 0 ? options.seed : g.settings.seed;
  report.threads = threads;
  report.max_in_flight = max_in_flight;

  tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism,
                                  static_cast<size_t>(threads));
  RunControl control;
  control.threads = threads;
  control.config_toml = resolved_config_toml(g);
  for (const ValidatedStage& vs : g.stages) {
    auto& specs = control.input_specs[vs.id];
    for (size_t j : vs.inputs) specs.push_back(g.stages[j].output_spec);
  }
  CounterSet counters;
  std::optional<SignalGuard> signals;
  reset_signals();
  if (options.handle_signals) signals.emplace();

  const size_t n = g.stages.size();
  std::unique_ptr<TraceRecorder> trace;
  if (!options.trace_path.empty()) {
    std::vector<std::string> names;
    for (const auto& s : g.stages) names.push_back(s.id);
    trace = std::make_unique<TraceRecorder>(names, threads + 2);
  }

  // Instantiate and open every stage before anything runs.
  std::vector<std::unique_ptr<StageRuntime>> rts;
  auto fail_report = [&](const std::string& stage, const std::string& what) {
    report.status = RunStatus::kFailed;
    report.failed_stage = stage;
    report.error = "stage '" + stage + "' failed to start: " + what;
    return report;
  };
  for (size_t i = 0; i < n; ++i) {
    const ValidatedStage& vs = g.stages[i];
    auto rt = std::make_unique<StageRuntime>(static_cast<size_t>(threads) + 2);
    rt->index = i;
    rt->decl = &vs;
    rt->trace = trace.get();
    rt->logger = spdlog::default_logger()->clone(vs.id);
    rt->ctx = std::make_unique<StageContext>(vs.id, static_cast<uint64_t>(seed), rt->logger.get(),
                                             &counters, &control);
    try {
      rt->stage = vs.entry->factory(vs.params);
      if (!rt->stage) throw std::runtime_error("the stage factory returned nothing");
      switch (vs.entry->spec.kind) {
        case StageKind::kSource: rt->source = dynamic_cast<Source*>(rt->stage.get()); break;
        case StageKind::kTransform: rt->transform = dynamic_cast<Transform*>(rt->stage.get()); break;
        case StageKind::kSink: rt->sink = dynamic_cast<Sink*>(rt->stage.get()); break;
      }
      if (!rt->source && !rt->transform && !rt->sink) {
        throw std::runtime_error(std::string("the stage type is declared as a ") +
                                 stage_kind_name(vs.entry->spec.kind) +
                                 " but its class does not derive from the matching base");
      }
      rt->stage->open(*rt->ctx);
    } catch (const std::exception& e) {
      return fail_report(vs.id, e.what());
    }
    rts.push_back(std::move(rt));
  }

  std::vector<std::unique_ptr<InFlight>> in_flight;  // outlives the graph's nodes
  // Every bundle of this run, freed with it: also those a cancelled graph leaves
  // in its buffers. Outlives the graph's nodes.
  auto arena = std::make_unique<BundleArena>();
  for (auto& rt : rts) rt->arena = arena.get();
  std::unique_ptr<GraphHolder> holder = std::make_unique<GraphHolder>();

  // Build: per stage an entry receiver per input and an output sender.
  std::vector<flow::sender<BundlePtr>*> output(n, nullptr);
  std::vector<bool> ordered(n, false);  // is stage i's output stream in order?
  std::vector<InputNode*> sources;
  std::vector<std::vector<flow::receiver<BundlePtr>*>> entry(n);
  const std::vector<std::vector<size_t>> chains =
      plan_chains(g, options.chain.value_or(g.settings.chain));
  std::vector<bool> chained_in(n, false);  // runs in an earlier stage's node
  for (const auto& c : chains) {
    for (size_t k = 1; k < c.size(); ++k) chained_in[c[k]] = true;
  }
  std::vector<const std::vector<size_t>*> chain_of(n, nullptr);
  for (const auto& c : chains) chain_of[c.front()] = &c;

  for (size_t i = 0; i < n; ++i) {
    if (chained_in[i]) continue;  // built with its chain's first stage
    const ValidatedStage& vs = g.stages[i];
    StageRuntime* rt = rts[i].get();
    const StageSpec& spec = vs.entry->spec;
    if (spec.kind == StageKind::kSource) {
      auto inf = std::make_unique<InFlight>();
      auto* src = holder->add<InputNode>(
          SourceBody(rt, inf.get(), &control, static_cast<uint32_t>(vs.outputs.size())));
      auto* lim = holder->add<LimiterNode>(max_in_flight - 1);
      flow::make_edge(*src, *lim);
      inf->decrementer.store(&lim->decrementer());
      in_flight.push_back(std::move(inf));
      sources.push_back(src);
      output[i] = lim;
      ordered[i] = true;
      continue;
    }
    // Inputs: merge several streams into one (each put in order first).
    const bool wants_order = spec.ordered_input;
    std::vector<flow::receiver<BundlePtr>*> inputs_entry;
    flow::receiver<BundlePtr>* head = nullptr;
    flow::sender<BundlePtr>* merged = nullptr;
    bool stream_ordered = true;
    if (vs.inputs.size() > 1) {
      auto* merge = holder->add<FunctionNode>(flow::serial, MergeBody(vs.inputs.size()));
      for (size_t k = 0; k < vs.inputs.size(); ++k) {
        if (ordered[vs.inputs[k]]) {
          inputs_entry.push_back(merge);
        } else {
          auto* seqr = holder->add<SequencerNode>(SeqOf{});
          flow::make_edge(*seqr, *merge);
          inputs_entry.push_back(seqr);
        }
      }
      merged = merge;
    } else {
      stream_ordered = ordered[vs.inputs[0]];
    }
    if (wants_order && !stream_ordered) {
      auto* seqr = holder->add<SequencerNode>(SeqOf{});
      if (merged) flow::make_edge(*merged, *seqr);
      head = seqr;
      merged = seqr;
      stream_ordered = true;
    }
    size_t limit = vs.concurrency.is_auto() ? static_cast<size_t>(flow::unlimited) : vs.concurrency.limit;
    rt->in_stream_finish = stream_ordered && limit == 1;
    // This stage and the ones chained to it (see RunOptions::chain) in one node.
    std::vector<StageRuntime*> members = {rt};
    if (chain_of[i]) {
      for (size_t k = 1; k < chain_of[i]->size(); ++k) {
        members.push_back(rts[(*chain_of[i])[k]].get());
      }
    }
    const size_t last = members.back()->index;
    const auto consumers = static_cast<uint32_t>(g.stages[last].outputs.size());
    flow::receiver<BundlePtr>* body_node = nullptr;
    if (members.back()->sink) {
      auto* node = holder->add<SinkNode>(limit, [body = ChainBody(members, 0)](Bundle* b) mutable {
        body(b);
        return flow::continue_msg();
      });
      body_node = node;
    } else {
      auto* node = holder->add<FunctionNode>(limit, ChainBody(members, consumers));
      body_node = node;
      output[last] = node;
      ordered[last] = stream_ordered && limit == 1;
    }
    if (merged) {
      flow::make_edge(*merged, *body_node);
    } else {
      head = head ? head : body_node;
    }
    if (vs.inputs.size() == 1) inputs_entry.push_back(head ? head : body_node);
    entry[i] = inputs_entry;
  }
  for (size_t i = 0; i < n; ++i) {
    if (chained_in[i]) continue;  // its input is inside its chain's node
    const ValidatedStage& vs = g.stages[i];
    for (size_t k = 0; k < vs.inputs.size(); ++k) {
      flow::make_edge(*output[vs.inputs[k]], *entry[i][k]);
    }
  }

  // Run. A second SIGINT/SIGTERM ends the process from its handler (run_control.cpp).
  auto t0 = Clock::now();
  if (trace) trace->set_origin(ticks_now());
  std::exception_ptr failure;
  try {
    for (auto* s : sources) s->activate();
    holder->graph.wait_for_all();
  } catch (...) {
    failure = std::current_exception();
  }
  auto t1 = Clock::now();
  const bool cancelled = holder->graph.is_cancelled();

  // Stages that could not finish in-stream (unordered input) finish now.
  if (!failure && !cancelled) {
    for (auto& rt : rts) {
      if (rt->source || rt->finished.exchange(true)) continue;
      std::vector<Packet> dropped;
      Emitter em(dropped);
      try {
        rt->stage->finish(em);
      } catch (const std::exception& e) {
        failure = std::make_exception_ptr(StageFailure(rt->decl->id, "end of stream", e.what()));
        break;
      }
      if (!dropped.empty()) {
        rt->logger->warn("finish() emitted {} item(s) after the end of the stream; they were dropped "
                         "(declare the stage .ordered() and serial to emit in-stream)",
                         dropped.size());
      }
    }
  }

  for (auto& inf : in_flight) inf->decrementer.store(nullptr);
  holder.reset();  // a cancelled graph's buffers may still point into the arena
  arena.reset();   // frees every bundle, those buffers' included

  report.wall_s = std::chrono::duration<double>(t1 - t0).count();
  for (const auto& inf : in_flight) {
    report.peak_in_flight = std::max(report.peak_in_flight, static_cast<size_t>(inf->peak));
  }
  if (failure) {
    report.status = RunStatus::kFailed;
    try {
      std::rethrow_exception(failure);
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
  } else if (cancelled) {
    report.status = RunStatus::kFailed;
    report.error = "the graph was cancelled";
  } else if (control.stop_requested()) {
    report.status = RunStatus::kStopped;
  }
  for (size_t i = 0; i < n; ++i) {
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
  for (const auto& c : chains) {
    std::vector<std::string> ids;
    for (size_t i : c) ids.push_back(g.stages[i].id);
    report.chains.push_back(std::move(ids));
  }
  report.counters = counters.snapshot();
  if (trace) {
    try {
      trace->write(options.trace_path);
      report.trace_note = trace->note();
    } catch (const std::exception& e) {
      report.trace_error = e.what();
    }
  }
  return report;
}

}  // namespace sluice
