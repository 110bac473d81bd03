// The bodies the runner puts into TBB nodes (internal to the runner): they
// call the stages, time them, count items, carry errors with their context.
#pragma once

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "pipeline/bundle.h"
#include "pipeline/payload_text.h"
#include "pipeline/profiler.h"
#include "pipeline/run_control.h"
#include "pipeline/runner.h"
#include "pipeline/trace.h"
#include "pipeline/validate.h"

namespace spdlog {
class logger;
}

namespace sluice::detail {

// A small per-thread index for lock-free per-thread statistics and traces.
inline std::atomic<int> g_next_slot{0};
inline thread_local int t_slot = -1;
inline int trace_slot() {
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
  BundleArena* arena = nullptr;  // the run's bundles
  // --log-level debug: a marker reaching the stage, the stage finishing (runner.cpp).
  void debug_marker(const Control& c) const;
  void debug_finish(const char* when) const;
  // Epochs whose end-of-epoch marker reached this stage (the marker's epoch + 1),
  // -1 before the first: the timeline's current epoch.
  std::atomic<int64_t> epochs_done{-1};

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

// A per-thread spare packet vector, swapped with each bundle's so that
// emitting allocates nothing in steady state (plain-pointer TLS, as above).
std::vector<Packet>* create_thread_scratch();
inline std::vector<Packet>& thread_scratch() {
  static thread_local std::vector<Packet>* scratch = nullptr;
  if (__builtin_expect(scratch == nullptr, 0)) scratch = create_thread_scratch();
  return *scratch;
}

inline std::vector<Packet> take_scratch() {
  std::vector<Packet> v = std::move(thread_scratch());
  v.clear();
  return v;
}
inline void give_scratch(std::vector<Packet>&& v) {
  v.clear();
  thread_scratch() = std::move(v);
}

class SourceBody {
 public:
  SourceBody(StageRuntime* rt, InFlight* in_flight, RunControl* control, uint32_t consumers)
      : rt_(rt), in_flight_(in_flight), control_(control), consumers_(consumers) {}

  BundlePtr operator()(tbb::flow_control& fc) {
    State& st = *state_;
    if (st.done) {
      fc.stop();
      return nullptr;
    }
    Ticks t0 = ticks_now();
    uint64_t blocked = st.last_end ? ticks_between(st.last_end, t0) : 0;
    BundlePtr b = new_bundle(*rt_->arena);
    ReleaseOnThrow guard(b);
    b->seq = st.seq++;
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
      st.done = true;
    }
    uint64_t n = 0;
    for (const auto& p : b->packets) n += !p.is_control;
    Ticks t1 = ticks_now();
    rt_->record(t0, t1, blocked, 0, n);
    st.last_end = t1;
    b->emitted = t1;
    guard.dismiss();
    b->in_flight = in_flight_;
    in_flight_->acquire();
    return publish(b, consumers_);
  }

 private:
  StageRuntime* rt_;
  InFlight* in_flight_;
  RunControl* control_;
  uint32_t consumers_;
  // input_node copies its body; keep the state shared across copies, on a
  // cache line of its own (only the source's thread touches it).
  struct alignas(64) State {
    uint64_t seq = 0;
    Ticks last_end = 0;
    bool done = false;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// Runs a transform or sink over every packet of a bundle.
class StageBody {
 public:
  StageBody(StageRuntime* rt, uint32_t consumers) : rt_(rt), consumers_(consumers) {}

  // Owns one reference on `in`; passes it on or releases it, on every path.
  Bundle* operator()(Bundle* in) {
    ReleaseOnThrow guard(in);
    Ticks t0 = ticks_now();
    Bundle* out = rt_->sink ? in : writable(in);
    guard.hold(out);  // a copy holds `in` as its parent
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
      guard.dismiss();
      release(in);
      return nullptr;
    }
    uint64_t n_out = 0;
    for (const auto& p : outv) n_out += !p.is_control;
    out->packets.swap(outv);
    give_scratch(std::move(outv));
    if (n_in || n_out) rt_->record(t0, t1, wait, n_in, n_out);
    out->emitted = t1;
    guard.dismiss();
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
      rt_->debug_marker(c);
      if (c.kind == ControlKind::kEndOfStream) {
        if (rt_->in_stream_finish && !rt_->finished.exchange(true)) {
          rt_->debug_finish("at the end of the stream");
          rt_->stage->finish(em);
        }
        em.forward(p);
      } else {
        if (c.kind == ControlKind::kEndOfEpoch &&
            c.epoch + 1 > rt_->epochs_done.load(std::memory_order_relaxed)) {
          rt_->epochs_done.store(c.epoch + 1, std::memory_order_relaxed);
        }
        rt_->stage->on_control(c, em);
      }
    } catch (const std::exception& e) {
      rt_->fail(b, &p, &e);
    }
  }

  StageRuntime* rt_;
  uint32_t consumers_;
};

// Runs a chain of stages in one node: each stage's body on the bundle the
// previous one produced (the runner chains only 1->1 wiring, so every member
// but the last has exactly one consumer). Timing and counts stay per stage.
class ChainBody {
 public:
  ChainBody(const std::vector<StageRuntime*>& members, uint32_t consumers) {
    for (size_t k = 0; k < members.size(); ++k) {
      bodies_.emplace_back(members[k], k + 1 == members.size() ? consumers : 1);
    }
  }

  Bundle* operator()(Bundle* b) {
    for (StageBody& body : bodies_) {
      b = body(b);
      if (!b) break;  // a sink consumed it
    }
    return b;
  }

 private:
  std::vector<StageBody> bodies_;
};

// Joins several input streams into one: renumbers bundles in arrival order and
// forwards a single end-of-stream once every input has ended.
class MergeBody {
 public:
  explicit MergeBody(size_t inputs) : state_(std::make_shared<State>()) {
    state_->remaining = inputs;
  }

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

}  // namespace sluice::detail
