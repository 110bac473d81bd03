// Generic stages: `gen.range`, `math.scale`, `work.spin`, `work.sleep`,
// `debug.fail`, `util.sum`, `util.print`, `util.discard`.
//
// Example config:
//   [stages.numbers]
//   use = "gen.range"
//   count = 100000
//
//   [stages.scaled]
//   use = "math.scale"
//   input = "numbers"
//   factor = 3
//
//   [stages.busy]
//   use = "work.spin"
//   input = "scaled"
//   micros = 50
//
//   [stages.total]
//   use = "util.sum"
//   input = "busy"
#include "stages/generic/generic_stages.h"

#include <chrono>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>

#include "pipeline/payload_text.h"
#include "pipeline/registry.h"
#include "pipeline/runner.h"

namespace sluice {
namespace {

// Integer arithmetic in these stages is checked: a result outside int64 is an
// error naming the stage and the item (std::overflow_error), never a silent
// wrap (undefined behaviour in C++) or a saturated value that looks real.
std::overflow_error overflow(const std::string& what) {
  return std::overflow_error(what + " overflows a 64-bit integer");
}

// Emits the integers start, start+1, ..., in `epochs` passes, each closed by
// an end-of-epoch marker.
class RangeSource : public Source {
 public:
  explicit RangeSource(const Params& p)
      : start_(p.get_int("start")), count_(p.get_int("count")), epochs_(p.get_int("epochs")) {
    int64_t last = 0;
    if (count_ > 0 && __builtin_add_overflow(start_, count_ - 1, &last)) {
      throw overflow("the last integer, start + count - 1 = " + std::to_string(start_) + " + " +
                     std::to_string(count_ - 1) + ",");
    }
  }
  bool produce(Emitter& out) override {
    if (epoch_ >= epochs_) return false;
    if (i_ < count_) {
      out.emit(start_ + i_++);
      return true;
    }
    out.emit_control(Control{ControlKind::kEndOfEpoch, {}, epoch_});
    ++epoch_;
    i_ = 0;
    return epoch_ < epochs_;
  }

 private:
  int64_t start_, count_, epochs_;
  int64_t i_ = 0, epoch_ = 0;
};

class Scale : public Transform {
 public:
  explicit Scale(const Params& p) : factor_(p.get_int("factor")), offset_(p.get_int("offset")) {}
  void process(std::any& in, Emitter& out) override {
    const int64_t x = payload_as<int64_t>(in);
    int64_t scaled = 0, result = 0;
    if (__builtin_mul_overflow(x, factor_, &scaled) ||
        __builtin_add_overflow(scaled, offset_, &result)) {
      throw overflow(std::to_string(x) + " * " + std::to_string(factor_) + " + " +
                     std::to_string(offset_));
    }
    out.emit(result);
  }

 private:
  int64_t factor_, offset_;
};

// Busy-waits a fixed time per item and passes it on: CPU work of known cost.
class Spin : public Transform {
 public:
  explicit Spin(const Params& p) : micros_(p.get_float("micros")) {}
  void process(std::any& in, Emitter& out) override {
    auto until = std::chrono::steady_clock::now() +
                 std::chrono::nanoseconds(static_cast<int64_t>(micros_ * 1000));
    while (std::chrono::steady_clock::now() < until) {
    }
    out.forward(Packet::data(std::move(in)));
  }

 private:
  double micros_;
};

// Sleeps per item: a slow consumer (I/O stand-in) that uses no CPU.
class Sleep : public Transform {
 public:
  explicit Sleep(const Params& p) : millis_(p.get_float("millis")) {}
  void process(std::any& in, Emitter& out) override {
    std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(millis_ * 1000)));
    out.forward(Packet::data(std::move(in)));
  }

 private:
  double millis_;
};

// Throws on the item equal to `at`: for trying out error reporting.
class Fail : public Transform {
 public:
  explicit Fail(const Params& p) : at_(p.get_int("at")), message_(p.get_string("message")) {}
  void process(std::any& in, Emitter& out) override {
    if (payload_as<int64_t>(in) == at_) throw std::runtime_error(message_);
    out.forward(Packet::data(std::move(in)));
  }

 private:
  int64_t at_;
  std::string message_;
};

class Sum : public Sink {
 public:
  explicit Sum(const Params&) {}
  void open(StageContext& ctx) override { ctx_ = &ctx; }
  void consume(std::any& in) override {
    const int64_t x = payload_as<int64_t>(in);
    int64_t next = 0;
    if (__builtin_add_overflow(sum_, x, &next)) {
      throw overflow("the sum of " + std::to_string(count_ + 1) + " items (" +
                     std::to_string(sum_) + " + " + std::to_string(x) + ")");
    }
    sum_ = next;
    ++count_;
  }
  void finish(Emitter&) override {
    ctx_->log().info("{} items, sum {}", count_, sum_);
    ctx_->counter("items").add(count_);
    ctx_->counter("sum").add(sum_);
  }

 private:
  StageContext* ctx_ = nullptr;
  int64_t sum_ = 0, count_ = 0;
};

class Print : public Sink {
 public:
  explicit Print(const Params& p) : limit_(p.get_int("limit")) {}
  void consume(std::any& in) override {
    if (limit_ >= 0 && printed_ >= limit_) return;
    ++printed_;
    std::cout << describe_payload(in) << '\n';
  }
  void on_control(const Control& c, Emitter&) override {
    std::cout << "-- " << control_kind_name(c.kind) << (c.split.empty() ? "" : " " + c.split)
              << " (epoch " << c.epoch + 1 << ")\n";  // epochs read from 1
  }

 private:
  int64_t limit_;
  int64_t printed_ = 0;
};

class Discard : public Sink {
 public:
  explicit Discard(const Params&) {}
  void consume(std::any&) override {}
};

}  // namespace

void register_generic_stages(Registry& r) {
  r.add<RangeSource>(StageSpec("gen.range")
                         .doc("Emits the integers [start, start + count), `epochs` times.",
                              "Each pass ends with an end-of-epoch marker.")
                         .source<int64_t>()
                         .output_spec([](const Params& p, SpecContext&) {
                           ElementSpec out;
                           out.type = payload_name<int64_t>();
                           out.epochs = p.get_int("epochs");
                           return out;
                         })
                         .param(ParamSpec::integer("count", 1000, "integers per epoch").min(0))
                         .param(ParamSpec::integer("start", 0, "first integer"))
                         .param(ParamSpec::integer("epochs", 1, "number of passes").min(1)));
  r.add<Scale>(StageSpec("math.scale")
                   .doc("Maps x to x * factor + offset.",
                        "A result outside the 64-bit integers fails the run, naming the item.")
                   .transform<int64_t, int64_t>()
                   .parallel()
                   .param(ParamSpec::integer("factor", 1, "multiplier"))
                   .param(ParamSpec::integer("offset", 0, "added after scaling")));
  r.add<Spin>(
      StageSpec("work.spin")
          .doc("Busy-waits `micros` per item, then passes it on (synthetic CPU work).")
          .transform<AnyPayload, AnyPayload>()
          .parallel()
          .param(ParamSpec::number("micros", 50, "microseconds of work per item").range(0, 1e7)));
  r.add<Sleep>(StageSpec("work.sleep")
                   .doc("Sleeps `millis` per item, then passes it on (a slow, idle consumer).")
                   .transform<AnyPayload, AnyPayload>()
                   .parallel()
                   .param(ParamSpec::number("millis", 1, "milliseconds per item").range(0, 6e5)));
  r.add<Fail>(StageSpec("debug.fail")
                  .doc("Passes integers on; throws on the one equal to `at`.")
                  .transform<int64_t, int64_t>()
                  .parallel()
                  .param(ParamSpec::integer("at", 0, "the item that fails"))
                  .param(ParamSpec::string("message", "deliberate failure", "the error message")));
  r.add<Sum>(StageSpec("util.sum")
                 .doc("Sums integers; logs the count and total, reported as counters.")
                 .sink<int64_t>()
                 .ordered());
  r.add<Print>(
      StageSpec("util.print")
          .doc("Prints each item and marker to stdout, in stream order.")
          .sink<AnyPayload>()
          .ordered()
          .param(ParamSpec::integer("limit", -1, "stop printing after this many (-1: all)")));
  r.add<Discard>(StageSpec("util.discard")
                     .doc("Drops every item (measures what comes before it).")
                     .sink<AnyPayload>()
                     .parallel());
}

}  // namespace sluice
