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

#include "pipeline/clock.h"
#include "pipeline/run_control.h"
#include "pipeline/trace.h"

namespace sluice {

namespace flow = tbb::flow;
using Clock = std::chrono::steady_clock;

StageFailure::StageFailure(std::string stage, std::string item, std::string cause)
    : std::runtime_error("stage '" + stage + "' failed" + (item.empty() ? "" : " on " + item) +
                         ": " + cause),
      stage_(std::move(stage)),
      item_(std::move(item)),
      cause_(std::move(cause)) {}

std::string describe_payload(const std::any& v) {
  if (auto* i = std::any_cast<int64_t>(&v)) return "Int " + std::to_string(*i);
  if (auto* d = std::any_cast<double>(&v)) return "Float " + std::to_string(*d);
  if (auto* s = std::any_cast<std::string>(&v)) {
    return "String \"" + (s->size() > 60 ? s->substr(0, 60) + "..." : *s) + "\"";
  }
  auto sample_text = [](const Sample& s) {
    std::string t = s.path.empty() ? s.id : s.path;
    if (!s.origin.empty()) t += " (" + s.origin + ")";
    return t;
  };
  if (auto* s = std::any_cast<Sample>(&v)) return "Sample " + sample_text(*s);
  if (auto* im = std::any_cast<Image>(&v)) return "Image " + sample_text(im->sample);
  if (auto* b = std::any_cast<Batch>(&v)) {
    std::string t = "Batch " + std::to_string(b->index) + " of " + b->split + " (epoch " +
                    std::to_string(b->epoch) + ", " + std::to_string(b->size) + " images";
    if (!b->ids.empty()) t += ", first " + b->ids.front();
    return t + ")";
  }
  if (auto* c = std::any_cast<Control>(&v)) return std::string("marker '") + control_kind_name(c->kind) + "'";
  return v.has_value() ? std::string("a value of type ") + v.type().name() : "an empty item";
}

namespace {

// Counts the items a source has in flight and releases the source's limiter
// when one is fully consumed.
struct InFlight {
  std::atomic<flow::receiver<flow::continue_msg>*> decrementer{nullptr};
  std::atomic<int64_t>* total = nullptr;
  std::atomic<int64_t>* peak = nullptr;

  void acquire() {
    int64_t now = total->fetch_add(1, std::memory_order_relaxed) + 1;
    int64_t p = peak->load(std::memory_order_relaxed);
    while (now > p && !peak->compare_exchange_weak(p, now, std::memory_order_relaxed)) {
    }
  }
  void release() {
    total->fetch_sub(1, std::memory_order_relaxed);
    if (auto* d = decrementer.load(std::memory_order_acquire)) d->try_put(flow::continue_msg());
  }
};

// All packets descended from one source emission, with the emission's
// sequence number. Bundles travel through the TBB nodes as raw pointers: every
// body that receives one owns one reference and either passes it on or
// releases it, so a hop costs no atomic operation. A node with several
// successors gives each its own reference; a consumer of a shared bundle
// copies on write and keeps the original (the root, which releases the
// source's limiter) alive through `parent`. Bundles are recycled per thread:
// a steady-state run allocates nothing per item. (If the graph is cancelled,
// the bundles left in its buffers are not reclaimed.)
struct Bundle {
  std::atomic<uint32_t> refs{1};
  uint64_t seq = 0;
  std::vector<Packet> packets;
  Ticks emitted = 0;
  Bundle* parent = nullptr;       // one reference on the bundle this was copied from
  InFlight* in_flight = nullptr;  // set on roots only
};
using BundlePtr = Bundle*;

// Per-thread free list of bundles (with their packet vectors' capacity).
struct BundlePool {
  std::vector<Bundle*> free;
  ~BundlePool() {
    for (Bundle* b : free) delete b;
  }
};
thread_local BundlePool t_pool;
constexpr size_t kPoolMax = 1024;

Bundle* new_bundle() {
  if (t_pool.free.empty()) return new Bundle();
  Bundle* b = t_pool.free.back();
  t_pool.free.pop_back();
  b->refs.store(1, std::memory_order_relaxed);
  return b;
}

void release(Bundle* b) {
  while (b && b->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    InFlight* root = b->in_flight;
    Bundle* parent = b->parent;
    b->in_flight = nullptr;
    b->parent = nullptr;
    b->packets.clear();
    if (t_pool.free.size() < kPoolMax) {
      t_pool.free.push_back(b);
    } else {
      delete b;
    }
    if (root) root->release();
    b = parent;
  }
}

// Hands `b` to `consumers` successors, one reference each.
Bundle* publish(Bundle* b, uint32_t consumers) {
  if (consumers == 0) {
    release(b);
  } else if (consumers > 1) {
    b->refs.fetch_add(consumers - 1, std::memory_order_relaxed);
  }
  return b;
}

// The bundle to write outputs into: `in` itself when this body holds the only
// reference, else a fresh one that keeps `in` alive as its parent.
Bundle* writable(Bundle* in) {
  if (in->refs.load(std::memory_order_acquire) == 1) return in;
  Bundle* out = new_bundle();
  out->seq = in->seq;
  out->emitted = in->emitted;
  out->parent = in;  // takes over this body's reference
  return out;
}

uint64_t ticks_between(Ticks a, Ticks b) { return b > a ? b - a : 0; }

// A small per-thread index for lock-free per-thread statistics and traces.
std::atomic<int> g_next_slot{0};
thread_local int t_slot = -1;
int trace_slot() {
  if (t_slot < 0) t_slot = g_next_slot.fetch_add(1, std::memory_order_relaxed);
  return t_slot;
}

// What one stage needs at run time.
struct StageRuntime {
  size_t index = 0;
  const ValidatedStage* decl = nullptr;
  std::unique_ptr<Stage> stage;
  Source* source = nullptr;
  Transform* transform = nullptr;
  Sink* sink = nullptr;
  std::shared_ptr<spdlog::logger> logger;
  std::unique_ptr<StageContext> ctx;
  StageStats stats;
  explicit StageRuntime(size_t slots) : stats(slots) {}
  bool in_stream_finish = false;  // sees ordered input: finish() on end of stream
  std::atomic<bool> finished{false};
  TraceRecorder* trace = nullptr;

  void record(Ticks t0, Ticks t1, uint64_t wait, uint64_t in, uint64_t out) {
    uint64_t busy = ticks_between(t0, t1);
    int slot_index = trace_slot();
    StatSlot& s = stats.slot(slot_index);
    // A thread owns its slot (plain adds); threads beyond the slots share the
    // last one (atomic adds).
    if (stats.owns(slot_index)) {
      auto bump = [](std::atomic<uint64_t>& a, uint64_t v) {
        a.store(a.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
      };
      bump(s.calls, 1);
      bump(s.busy, busy);
      bump(s.wait, wait);
      bump(s.items_in, in);
      bump(s.items_out, out);
      s.latency.record_exclusive(busy);
    } else {
      s.calls.fetch_add(1, std::memory_order_relaxed);
      s.busy.fetch_add(busy, std::memory_order_relaxed);
      s.wait.fetch_add(wait, std::memory_order_relaxed);
      s.items_in.fetch_add(in, std::memory_order_relaxed);
      s.items_out.fetch_add(out, std::memory_order_relaxed);
      s.latency.record(busy);
    }
    if (trace) trace->record(static_cast<int>(index), slot_index, t0, t1);
  }

  [[noreturn]] void fail(const Bundle& b, const Packet* p, const std::exception* e) {
    std::string item = "item #" + std::to_string(b.seq);
    if (p) item += " (" + describe_payload(p->value) + ")";
    throw StageFailure(decl->id, item, e ? e->what() : "unknown exception");
  }
};

thread_local std::vector<Packet> t_scratch;

std::vector<Packet> take_scratch() {
  std::vector<Packet> v = std::move(t_scratch);
  v.clear();
  return v;
}
void give_scratch(std::vector<Packet>&& v) {
  v.clear();
  t_scratch = std::move(v);
}

class SourceBody {
 public:
  SourceBody(StageRuntime* rt, InFlight* in_flight, RunControl* control, uint32_t consumers)
      : rt_(rt), in_flight_(in_flight), control_(control), consumers_(consumers) {}

  BundlePtr operator()(tbb::flow_control& fc) {
    if (*done_) {
      fc.stop();
      return nullptr;
    }
    Ticks t0 = ticks_now();
    uint64_t blocked = last_end_ ? ticks_between(last_end_, t0) : 0;
    BundlePtr b = new_bundle();
    b->seq = (*seq_)++;
    Emitter out(b->packets);
    bool more = false;
    if (!control_->stop_requested()) {
      try {
        more = rt_->source->produce(out);
      } catch (const std::exception& e) {
        rt_->fail(*b, nullptr, &e);
      }
    }
    if (!more) {
      b->packets.push_back(Packet::control(Control{ControlKind::kEndOfStream, {}, 0}));
      *done_ = true;
    }
    uint64_t n = 0;
    for (const auto& p : b->packets) n += !p.is_control;
    Ticks t1 = ticks_now();
    rt_->record(t0, t1, blocked, 0, n);
    last_end_ = t1;
    b->emitted = t1;
    b->in_flight = in_flight_;
    in_flight_->acquire();
    return publish(b, consumers_);
  }

 private:
  StageRuntime* rt_;
  InFlight* in_flight_;
  RunControl* control_;
  uint32_t consumers_;
  // input_node copies its body; keep the state shared across copies.
  std::shared_ptr<uint64_t> seq_ = std::make_shared<uint64_t>(0);
  std::shared_ptr<bool> done_ = std::make_shared<bool>(false);
  Ticks last_end_ = 0;
};

// Runs a transform or sink over every packet of a bundle.
class StageBody {
 public:
  StageBody(StageRuntime* rt, uint32_t consumers) : rt_(rt), consumers_(consumers) {}

  Bundle* operator()(Bundle* in) {
    Ticks t0 = ticks_now();
    Bundle* out = rt_->sink ? in : writable(in);
    const bool shared = out != in || (rt_->sink && in->refs.load(std::memory_order_acquire) > 1);
    std::vector<Packet> outv = take_scratch();
    Emitter em(outv);
    uint64_t n_in = 0;
    for (Packet& p : in->packets) {
      if (p.is_control) {
        handle_control(p, em, *in);
        continue;
      }
      ++n_in;
      try {
        if (shared) {
          std::any copy = p.value;
          dispatch(copy, em);
        } else {
          dispatch(p.value, em);
        }
      } catch (const StageFailure&) {
        throw;
      } catch (const std::exception& e) {
        rt_->fail(*in, &p, &e);
      }
    }
    Ticks t1 = ticks_now();
    uint64_t wait = ticks_between(in->emitted, t0);
    if (rt_->sink) {
      if (n_in) rt_->record(t0, t1, wait, n_in, 0);
      give_scratch(std::move(outv));
      release(in);
      return nullptr;
    }
    uint64_t n_out = 0;
    for (const auto& p : outv) n_out += !p.is_control;
    out->packets.swap(outv);
    give_scratch(std::move(outv));
    if (n_in || n_out) rt_->record(t0, t1, wait, n_in, n_out);
    out->emitted = t1;
    return publish(out, consumers_);
  }

 private:
  void dispatch(std::any& value, Emitter& em) {
    if (rt_->transform) {
      rt_->transform->process(value, em);
    } else {
      rt_->sink->consume(value);
    }
  }

  void handle_control(const Packet& p, Emitter& em, const Bundle& b) {
    const Control& c = p.as_control();
    try {
      if (c.kind == ControlKind::kEndOfStream) {
        if (rt_->in_stream_finish && !rt_->finished.exchange(true)) rt_->stage->finish(em);
        em.forward(p);
      } else {
        rt_->stage->on_control(c, em);
      }
    } catch (const std::exception& e) {
      rt_->fail(b, &p, &e);
    }
  }

  StageRuntime* rt_;
  uint32_t consumers_;
};

// Joins several input streams into one: renumbers bundles in arrival order and
// forwards a single end-of-stream once every input has ended.
class MergeBody {
 public:
  explicit MergeBody(size_t inputs) : state_(std::make_shared<State>()) { state_->remaining = inputs; }

  Bundle* operator()(Bundle* in) {
    Bundle* out = writable(in);
    if (out != in) out->packets = in->packets;
    auto& v = out->packets;
    for (auto it = v.begin(); it != v.end();) {
      if (it->is_control && it->as_control().kind == ControlKind::kEndOfStream &&
          --state_->remaining > 0) {
        it = v.erase(it);
      } else {
        ++it;
      }
    }
    out->seq = state_->next++;
    return out;  // to exactly one successor
  }

 private:
  struct State {
    size_t remaining = 0;
    uint64_t next = 0;
  };
  std::shared_ptr<State> state_;
};

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

  std::atomic<int64_t> in_flight_total{0}, in_flight_peak{0};
  std::vector<std::unique_ptr<InFlight>> in_flight;  // outlives the graph's nodes
  std::unique_ptr<GraphHolder> holder = std::make_unique<GraphHolder>();

  // Build: per stage an entry receiver per input and an output sender.
  std::vector<flow::sender<BundlePtr>*> output(n, nullptr);
  std::vector<bool> ordered(n, false);  // is stage i's output stream in order?
  std::vector<InputNode*> sources;
  std::vector<std::vector<flow::receiver<BundlePtr>*>> entry(n);

  for (size_t i = 0; i < n; ++i) {
    const ValidatedStage& vs = g.stages[i];
    StageRuntime* rt = rts[i].get();
    const StageSpec& spec = vs.entry->spec;
    if (spec.kind == StageKind::kSource) {
      auto inf = std::make_unique<InFlight>();
      inf->total = &in_flight_total;
      inf->peak = &in_flight_peak;
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
    flow::receiver<BundlePtr>* body_node = nullptr;
    if (spec.kind == StageKind::kSink) {
      auto* node = holder->add<SinkNode>(limit, [rt](Bundle* b) {
        StageBody body(rt, 0);
        body(b);
        return flow::continue_msg();
      });
      body_node = node;
    } else {
      auto* node = holder->add<FunctionNode>(
          limit, StageBody(rt, static_cast<uint32_t>(vs.outputs.size())));
      body_node = node;
      output[i] = node;
      ordered[i] = stream_ordered && limit == 1;
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
    const ValidatedStage& vs = g.stages[i];
    for (size_t k = 0; k < vs.inputs.size(); ++k) {
      flow::make_edge(*output[vs.inputs[k]], *entry[i][k]);
    }
  }

  // Run. A second SIGINT/SIGTERM cancels the graph outright.
  std::mutex done_mutex;
  std::condition_variable done_cv;
  bool done = false;
  std::thread watchdog;
  if (options.handle_signals) {
    watchdog = std::thread([&] {
      std::unique_lock<std::mutex> lock(done_mutex);
      while (!done_cv.wait_for(lock, std::chrono::milliseconds(20), [&] { return done; })) {
        if (signals_received() >= 2) {
          holder->graph.cancel();
          return;
        }
      }
    });
  }
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
  {
    std::lock_guard<std::mutex> lock(done_mutex);
    done = true;
  }
  done_cv.notify_all();
  if (watchdog.joinable()) watchdog.join();
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
  holder.reset();  // drops whatever a cancelled graph still held

  report.wall_s = std::chrono::duration<double>(t1 - t0).count();
  report.peak_in_flight = static_cast<size_t>(in_flight_peak.load());
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
  report.counters = counters.snapshot();
  if (trace) {
    try {
      trace->write(options.trace_path);
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
    }
  }
  return report;
}

}  // namespace sluice
