// The stage API: what a stage declares (StageSpec), what it implements (Source,
// Transform or Sink) and what the framework gives it (StageContext, Emitter).
//
// A stage states its whole contract in one StageSpec: registered name, kind,
// the C++ payload type of each port (pipeline/port_type.h), parameters, and
// whether its body may run concurrently. The
// validator, `sluice stages` and the docs read that declaration; the stage
// itself only implements process()/consume()/produce(). Timing, ordering,
// back-pressure and error context are the framework's job.
//
//   class Square : public sluice::Transform {
//    public:
//     explicit Square(const sluice::Params&) {}
//     void process(std::any& in, sluice::Emitter& out) override {
//       auto v = sluice::payload_as<int64_t>(in);
//       out.emit(v * v);
//     }
//   };
//   registry.add<Square>(sluice::StageSpec("math.square")
//                            .transform<int64_t, int64_t>()
//                            .doc("Squares integers.")
//                            .parallel());
#pragma once

#include <any>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/data_position.h"
#include "pipeline/diagnostics.h"
#include "pipeline/element_spec.h"
#include "pipeline/live_metrics.h"
#include "pipeline/packet.h"
#include "pipeline/params.h"
#include "pipeline/port_type.h"
#include "pipeline/rng.h"

namespace spdlog {
class logger;
}

namespace sluice {

enum class StageKind { kSource, kTransform, kSink };
const char* stage_kind_name(StageKind kind);

// What a stage's check hook (StageSpec::check) is given: its parameters, typed
// and checked against their ParamSpecs, and a way to report an error at a key.
// validate() runs the hook, so `sluice check` reports the stage's own rules
// (a file that must exist, two parameters that exclude each other) with the
// other config errors, before anything runs.
class ParamCheck {
 public:
  // `value_where`: the position of each key the config gave (its value);
  // `header`: the stage's [stages.ID] header; `label` prefixes every message.
  ParamCheck(std::string stage_id, const Params& params,
             std::map<std::string, SourceLocation> value_where, SourceLocation header,
             std::string config_dir, std::string label, std::vector<Diagnostic>& errors);

  // The stage's id in the config ("train"), e.g. for a `--set ID.KEY=...` hint.
  const std::string& stage_id() const { return stage_id_; }
  // The stage's parameters, defaults filled in: what its constructor will get.
  const Params& params() const { return params_; }
  // Whether the config (or a --set) gave `key`, rather than it taking its default.
  bool given(const std::string& key) const { return value_where_.count(key) > 0; }
  // The folder of the config file (absolute, or "." for a config read from a
  // string). Stage paths are opened as written, relative to the working
  // directory, as the run opens them; a stage that defines its paths relative
  // to the config file resolves them against this.
  const std::string& config_dir() const { return config_dir_; }
  // Records an error at the position of `key`'s value, or at the stage's header
  // when the key was not given; `sluice check` and `sluice run` then exit 2.
  // Write `message` as the constructor would throw it, naming the key.
  void error(const std::string& key, const std::string& message) const;
  // Number of errors this stage's hook recorded so far.
  size_t error_count() const { return count_; }

 private:
  std::string stage_id_;
  const Params& params_;
  std::map<std::string, SourceLocation> value_where_;
  SourceLocation header_;
  std::string config_dir_;
  std::string label_;
  std::vector<Diagnostic>& errors_;
  mutable size_t count_ = 0;
};

// A stage's own rules on its parameters, run by validate() after every
// parameter of the stage was typed and checked without error. It must only
// look (stat a file, read a header line), never create or change anything.
using ParamCheckFn = std::function<void(const ParamCheck&)>;

// The declaration of a stage type. Build it with chained calls.
struct StageSpec {
  std::string name;        // registered name, e.g. "image.decode_jpeg"
  std::string summary;     // one line for `sluice stages`
  std::string description; // longer text for `sluice stages NAME`
  StageKind kind = StageKind::kTransform;
  PortType input;   // the payload its input port takes; absent for sources
  PortType output;  // the payload its output port emits; absent for sinks
  std::vector<ParamSpec> params;
  bool thread_safe = false;          // process() may run concurrently: default "auto"
  bool ordered_input = false;        // needs its input in stream order (batching, training)
  std::vector<ParamCheckFn> checks;  // the stage's own parameter rules, in order
  // Whether the stage's output, with given parameters, depends on the run's
  // random numbers (ctx.rng, a seed): a non-empty reason when it does (see
  // random()). Empty function: deterministic.
  std::function<std::string(const Params&)> random_when;

  explicit StageSpec(std::string n) : name(std::move(n)) {}
  StageSpec& doc(std::string one_line, std::string details = {}) {
    summary = std::move(one_line);
    description = std::move(details);
    return *this;
  }
  // The kind and the C++ payload type of each port, as template arguments:
  // .source<Sample>(), .transform<Sample, Image>(), .sink<Batch>(); AnyPayload
  // for a port that carries every type.
  template <class Out>
  StageSpec& source() {
    return ports(StageKind::kSource, PortType{}, port_type<Out>());
  }
  template <class In, class Out>
  StageSpec& transform() {
    return ports(StageKind::kTransform, port_type<In>(), port_type<Out>());
  }
  template <class In>
  StageSpec& sink() {
    return ports(StageKind::kSink, port_type<In>(), PortType{});
  }
  StageSpec& ports(StageKind k, PortType in, PortType out) {
    kind = k;
    input = std::move(in);
    output = std::move(out);
    return *this;
  }
  StageSpec& param(ParamSpec p) {
    params.push_back(std::move(p));
    return *this;
  }
  // process()/consume() is safe to call from several threads at once.
  StageSpec& parallel() {
    thread_safe = true;
    return *this;
  }
  // The stage must see items (and control markers) in stream order.
  StageSpec& ordered() {
    ordered_input = true;
    return *this;
  }
  // Adds a rule the ParamSpecs cannot state (see ParamCheck); several add up.
  //   .check([](const sluice::ParamCheck& c) {
  //     if (c.params().get_float("lo") > c.params().get_float("hi"))
  //       c.error("lo", "lo must not exceed hi");
  //   })
  StageSpec& check(ParamCheckFn fn) {
    checks.push_back(std::move(fn));
    return *this;
  }
  // Declares that the stage's output depends on the run's random numbers
  // (different each epoch), with these parameters: `fn` returns why ("flip"),
  // or an empty string when these parameters make the stage deterministic.
  // Validation records it in the element spec (ElementSpec::random_from), so a
  // stage that must not follow randomness (a cache would freeze it) can refuse
  // the placement in `sluice check`.
  //   .random([](const sluice::Params& p) {
  //     return p.get_float("p") > 0 ? std::string("p > 0") : std::string();
  //   })
  StageSpec& random(std::function<std::string(const Params&)> fn) {
    random_when = std::move(fn);
    return *this;
  }
  // Always random, whatever the parameters.
  StageSpec& random() {
    return random([](const Params&) { return std::string("draws random numbers"); });
  }
  const ParamSpec* find_param(const std::string& pname) const;

  // Element specs (pipeline/element_spec.h), computed at validation so that
  // `sluice check` knows what flows on each edge. All optional: a source
  // without one emits an ElementSpec of its port type and nothing else; a
  // transform without one passes its input's spec through when its ports have
  // the same type, else emits only its port type; a stage without accepts()
  // takes whatever its port type allows.
  using SourceSpecFn = std::function<ElementSpec(const Params&, SpecContext&)>;
  using TransformSpecFn =
      std::function<ElementSpec(const Params&, const std::vector<ElementSpec>&, SpecContext&)>;
  using AcceptsFn = std::function<void(const Params&, const ElementSpec&, SpecContext&)>;
  SourceSpecFn source_spec;
  TransformSpecFn transform_spec;
  AcceptsFn accepts_spec;
  // A source's output spec, from its parameters (may read an index header).
  StageSpec& output_spec(SourceSpecFn fn) {
    source_spec = std::move(fn);
    return *this;
  }
  // A transform's output spec, from its parameters and its inputs' specs.
  StageSpec& output_spec(TransformSpecFn fn) {
    transform_spec = std::move(fn);
    return *this;
  }
  // Checks each input's spec; reports a refusal with SpecContext::error.
  StageSpec& accepts(AcceptsFn fn) {
    accepts_spec = std::move(fn);
    return *this;
  }
};

// Named counters a stage reports in the run summary (e.g. skipped images by
// reason). Thread-safe; get a reference once in open() and add() on the hot path.
class Counter {
 public:
  void add(int64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

class RunControl;
class CounterSet;

// What the framework gives a stage: its id, a logger named after it, a seed
// source, counters, and the means to stop the run's sources.
class StageContext {
 public:
  StageContext(std::string id, uint64_t run_seed, spdlog::logger* logger, CounterSet* counters,
               RunControl* control);

  const std::string& id() const { return id_; }
  spdlog::logger& log() const { return *logger_; }
  // The run seed mixed with this stage's id: distinct per stage, stable per run.
  uint64_t seed() const { return seed_; }
  // A counter-based generator keyed by (stage seed, a, b), e.g. (epoch, index).
  CounterRng rng(uint64_t a, uint64_t b = 0) const { return CounterRng(seed_, a, b); }
  // A counter reported as "<stage id>.<name>" in the run summary.
  Counter& counter(const std::string& name);
  // Ask the sources to stop after their current item (e.g. early stopping).
  // In-flight items still drain, and every stage's finish() still runs.
  void request_stop();
  bool stop_requested() const;
  // Resuming: ask the sources to start at `epoch` because the epochs before it
  // are done (a trainer restoring a checkpoint). Sources that emit epochs then
  // skip the earlier ones without reading them; a source that cannot still
  // emits them, so a requester must also tolerate seeing them. Call it in
  // open(); with several requests the earliest epoch wins.
  void request_start_epoch(int64_t epoch);
  // The epoch a source should start at: 0 unless a stage asked otherwise. Read
  // it when producing starts, not in open() (sources open before the stages
  // downstream of them).
  int64_t start_epoch() const;
  // Resuming mid-epoch (pipeline/data_position.h): start at `position`, an epoch
  // and the items of one of its splits consumed over all ranks. Same rules as
  // request_start_epoch (call it in open(); the earliest position wins; a source
  // that cannot skip still emits, so the requester tolerates seeing them).
  void request_start_position(const DataPosition& position);
  // Where a source starts: read it when producing starts, as start_epoch().
  DataPosition start_position() const;
  // Sources: the items of the start position's split this source skipped (its
  // shard's), so that stages downstream number what follows as an unbroken run
  // would (image.batch's batch index).
  void announce_resumed_items(int64_t items);
  // Those items, summed over the sources that announced them; -1 when none did.
  int64_t resumed_items() const;
  // The run's pipeline as one resolved TOML file (pipeline/config_writer.h), to
  // record with results.
  const std::string& run_config() const;
  // The element specs validation computed for this stage's inputs, in input
  // order (empty for a source): what flows in, e.g. the label schema a trainer
  // records with its checkpoints. Fields validation could not know stay unset.
  const std::vector<ElementSpec>& input_specs() const;
  // Number of worker threads of the run (for sizing pools).
  int threads() const;
  // Sources: how many items of `split` each epoch emits (after limit and
  // sharding), announced in open() so that stages downstream can show progress
  // against a total from the first epoch on (a trainer's bar and ETA).
  void announce_split_items(const std::string& split, int64_t items);
  // The items of `split` per epoch, summed over the sources that announced it;
  // -1 when none did. Sources open before the stages downstream of them.
  int64_t split_items(const std::string& split) const;
  // Where to report progress and metrics while the run goes on (a trainer's
  // loss per step, its epoch metrics), for the live dashboard.
  LiveMetrics& live() const;

 private:
  std::string id_;
  uint64_t seed_;
  spdlog::logger* logger_;
  CounterSet* counters_;
  RunControl* control_;
};

// Collects what a stage emits for one input (zero, one or many packets).
class Emitter {
 public:
  explicit Emitter(std::vector<Packet>& out) : out_(out) {}
  template <class T>
  void emit(T&& value) {
    out_.push_back(Packet::data(std::any(std::forward<T>(value))));
  }
  void emit_control(Control c) { out_.push_back(Packet::control(std::move(c))); }
  void forward(Packet p) { out_.push_back(std::move(p)); }
  size_t size() const { return out_.size(); }

 private:
  std::vector<Packet>& out_;
};

class Stage {
 public:
  virtual ~Stage() = default;
  // Called once before the run starts, on the main thread.
  virtual void open(StageContext& ctx) { (void)ctx; }
  // A control marker. Serial ordered stages see it in stream order. The default
  // forwards it downstream. Sinks get it too (forwarding is then a no-op).
  virtual void on_control(const Control& c, Emitter& out) { out.emit_control(c); }
  // End of stream, after the last item and marker, in order: flush buffered
  // state (a partial batch), save (a trainer). Also runs after SIGINT/SIGTERM,
  // since the sources then stop and the stream ends normally.
  virtual void finish(Emitter& out) { (void)out; }
};

class Source : public Stage {
 public:
  // Emit the next item(s) and/or markers; return false when exhausted.
  // The framework calls it serially and adds the end-of-stream marker.
  virtual bool produce(Emitter& out) = 0;
};

class Transform : public Stage {
 public:
  // One input payload -> zero, one or many outputs.
  virtual void process(std::any& in, Emitter& out) = 0;
};

class Sink : public Stage {
 public:
  virtual void consume(std::any& in) = 0;
};

}  // namespace sluice
