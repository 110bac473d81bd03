// Small stages used by the framework tests, registered into a local registry.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "pipeline/registry.h"

namespace sluice::testing {

// Emits 0..count-1 per epoch, each epoch closed by an end-of-epoch marker.
class Counting : public Source {
 public:
  explicit Counting(const Params& p)
      : count_(p.get_int("count")), epochs_(p.get_int("epochs")), sleep_us_(p.get_int("sleep_us")) {}
  bool produce(Emitter& out) override {
    if (sleep_us_) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us_));
    if (i_ < count_) {
      out.emit(i_++);
      return true;
    }
    out.emit_control(Control{ControlKind::kEndOfEpoch, {}, epoch_++});
    i_ = 0;
    return epoch_ < epochs_;
  }

 private:
  int64_t count_, epochs_, sleep_us_;
  int64_t i_ = 0, epoch_ = 0;
};

// Adds one after a data-dependent delay, so parallel runs reorder items.
class Jitter : public Transform {
 public:
  explicit Jitter(const Params& p) : max_us_(p.get_int("max_us")) {}
  void process(std::any& in, Emitter& out) override {
    int64_t v = payload_as<int64_t>(in);
    auto us = static_cast<int64_t>(mix64(static_cast<uint64_t>(v)) % (max_us_ + 1));
    auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
    while (std::chrono::steady_clock::now() < until) {
    }
    out.emit(v + 1);
  }

 private:
  int64_t max_us_;
};

// Emits `copies` items per input (1->N), or none for odd inputs when filter_odd.
class Repeat : public Transform {
 public:
  explicit Repeat(const Params& p) : copies_(p.get_int("copies")), filter_odd_(p.get_bool("filter_odd")) {}
  void process(std::any& in, Emitter& out) override {
    int64_t v = payload_as<int64_t>(in);
    if (filter_odd_ && v % 2) return;
    for (int64_t k = 0; k < copies_; ++k) out.emit(v * 100 + k);
  }

 private:
  int64_t copies_;
  bool filter_odd_;
};

class Throwing : public Transform {
 public:
  explicit Throwing(const Params& p) : at_(p.get_int("at")) {}
  void process(std::any& in, Emitter& out) override {
    if (payload_as<int64_t>(in) == at_) throw std::runtime_error("boom at " + std::to_string(at_));
    out.forward(Packet::data(std::move(in)));
  }

 private:
  int64_t at_;
};

class Stringify : public Transform {
 public:
  explicit Stringify(const Params&) {}
  void process(std::any& in, Emitter& out) override {
    out.emit(std::to_string(payload_as<int64_t>(in)));
  }
};

// Shared record of what the sinks saw.
struct Observed {
  std::mutex mutex;
  std::vector<Packet> packets;
  int finished = 0;
  std::atomic<int64_t> live{0};  // produced by Tracked, not yet consumed
  std::atomic<int64_t> peak{0};
};

inline Observed& observed() {
  static Observed o;
  return o;
}

inline void reset_observed() {
  Observed& o = observed();
  std::lock_guard<std::mutex> lock(o.mutex);
  o.packets.clear();
  o.finished = 0;
  o.live = 0;
  o.peak = 0;
}

// Ordered sink recording every packet; optional sleep per item.
class Recorder : public Sink {
 public:
  explicit Recorder(const Params& p) : sleep_us_(p.get_int("sleep_us")) {}
  void consume(std::any& in) override {
    if (sleep_us_) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us_));
    Observed& o = observed();
    o.live.fetch_sub(1);
    std::lock_guard<std::mutex> lock(o.mutex);
    o.packets.push_back(Packet::data(in));
  }
  void on_control(const Control& c, Emitter&) override {
    std::lock_guard<std::mutex> lock(observed().mutex);
    observed().packets.push_back(Packet::control(c));
  }
  void finish(Emitter&) override {
    std::lock_guard<std::mutex> lock(observed().mutex);
    ++observed().finished;
  }

 private:
  int64_t sleep_us_;
};

// Passes items on, counting how many exist between here and the Recorder.
class Tracked : public Transform {
 public:
  explicit Tracked(const Params&) {}
  void process(std::any& in, Emitter& out) override {
    Observed& o = observed();
    int64_t now = o.live.fetch_add(1) + 1;
    int64_t p = o.peak.load();
    while (now > p && !o.peak.compare_exchange_weak(p, now)) {
    }
    out.forward(Packet::data(std::move(in)));
  }
};

class StopAfter : public Transform {
 public:
  explicit StopAfter(const Params& p) : at_(p.get_int("at")) {}
  void open(StageContext& ctx) override { ctx_ = &ctx; }
  void process(std::any& in, Emitter& out) override {
    if (payload_as<int64_t>(in) == at_) ctx_->request_stop();
    out.forward(Packet::data(std::move(in)));
  }

 private:
  int64_t at_;
  StageContext* ctx_ = nullptr;
};

inline Registry test_registry() {
  Registry r;
  r.set_origin("tests");
  r.add<Counting>(StageSpec("test.count")
                      .doc("counts")
                      .source<int64_t>()
                      .param(ParamSpec::integer("count", 10, "items").min(0))
                      .param(ParamSpec::integer("epochs", 1, "passes").min(1))
                      .param(ParamSpec::integer("sleep_us", 0, "delay per item").min(0)));
  r.add<Jitter>(StageSpec("test.jitter")
                    .doc("adds one after a delay")
                    .transform<int64_t, int64_t>()
                    .parallel()
                    .param(ParamSpec::integer("max_us", 50, "max delay").range(0, 100000)));
  r.add<Repeat>(StageSpec("test.repeat")
                    .doc("1->N")
                    .transform<int64_t, int64_t>()
                    .parallel()
                    .param(ParamSpec::integer("copies", 2, "outputs per input").min(0))
                    .param(ParamSpec::boolean("filter_odd", false, "drop odd inputs")));
  r.add<Throwing>(StageSpec("test.throw")
                      .doc("throws at one item")
                      .transform<int64_t, int64_t>()
                      .parallel()
                      .param(ParamSpec::integer("at", 5, "failing item")));
  r.add<Stringify>(
      StageSpec("test.to_string").doc("int to string").transform<int64_t, std::string>());
  r.add<Recorder>(StageSpec("test.record")
                      .doc("records")
                      .sink<AnyPayload>()
                      .ordered()
                      .param(ParamSpec::integer("sleep_us", 0, "delay per item").min(0)));
  r.add<Tracked>(
      StageSpec("test.tracked").doc("tracks live items").transform<AnyPayload, AnyPayload>());
  // A pass-through with a parameter of every type (the resolved-config tests).
  r.add<Tracked>(StageSpec("test.kinds")
                     .doc("every parameter type")
                     .transform<AnyPayload, AnyPayload>()
                     .parallel()
                     .param(ParamSpec::boolean("flag", false, "a boolean"))
                     .param(ParamSpec::number("ratio", 0.1, "a float"))
                     .param(ParamSpec::string("label", "plain", "a string"))
                     .param(ParamSpec::numbers("floats", {0.9, 1.1}, "floats"))
                     .param(ParamSpec::integers("ints", {}, "integers"))
                     .param(ParamSpec::strings("names", {"a"}, "strings"))
                     .param(ParamSpec::optional("maybe", ParamType::kInt, "unset by default")));
  r.add<StopAfter>(StageSpec("test.stop_after")
                       .doc("requests a stop")
                       .transform<int64_t, int64_t>()
                       .param(ParamSpec::integer("at", 5, "item that stops the run")));
  return r;
}

}  // namespace sluice::testing
