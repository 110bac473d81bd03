#include "pipeline/trace.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace sluice {

TraceRecorder::TraceRecorder(std::vector<std::string> stage_names, int slots, size_t max_events)
    : names_(std::move(stage_names)),
      slots_(static_cast<size_t>(std::max(slots, 1))),
      per_slot_cap_(max_events / std::max<size_t>(1, static_cast<size_t>(std::max(slots, 1)))),
      origin_(ticks_now()),
      dropped_(std::make_unique<std::atomic<size_t>>(0)),
      overflow_mutex_(std::make_unique<std::mutex>()) {}

void TraceRecorder::record(int stage, int slot, Ticks start, Ticks end) {
  std::unique_lock<std::mutex> shared_lock;
  if (slot < 0 || static_cast<size_t>(slot) + 1 >= slots_.size()) {
    slot = static_cast<int>(slots_.size()) - 1;  // threads beyond the slots share the last
    shared_lock = std::unique_lock<std::mutex>(*overflow_mutex_);
  }
  auto& events = slots_[slot].events;
  if (events.size() >= per_slot_cap_) {
    dropped_->fetch_add(1, std::memory_order_relaxed);
    return;
  }
  events.push_back({stage, static_cast<int64_t>(start - origin_),
                    static_cast<int64_t>(end > start ? end - start : 0)});
}

size_t TraceRecorder::dropped() const { return dropped_->load(); }

size_t TraceRecorder::recorded() const {
  size_t n = 0;
  for (const Slot& s : slots_) n += s.events.size();
  return n;
}

std::string TraceRecorder::note() const {
  if (dropped() == 0) return {};
  return fmt::format("trace truncated at {} spans; {} more not recorded", recorded(), dropped());
}

namespace {

// The trace file: written in large blocks; any error throws naming the path,
// and a regular file left half-written is removed.
class TraceFile {
 public:
  explicit TraceFile(std::string path) : path_(std::move(path)) {
    file_ = std::fopen(path_.c_str(), "wb");
    if (!file_) fail("cannot write trace file");
  }
  ~TraceFile() {
    if (file_) {
      std::fclose(file_);
      remove_partial();
    }
  }
  TraceFile(const TraceFile&) = delete;
  TraceFile& operator=(const TraceFile&) = delete;

  void write(const fmt::memory_buffer& buf) {
    if (buf.size() && std::fwrite(buf.data(), 1, buf.size(), file_) != buf.size()) {
      fail("error writing trace file");
    }
  }
  void close() {
    const bool flushed = std::fflush(file_) == 0;
    const int saved = errno;
    std::FILE* f = file_;
    file_ = nullptr;
    if (std::fclose(f) != 0 || !flushed) {
      errno = flushed ? errno : saved;
      remove_partial();
      fail("error writing trace file");
    }
  }

 private:
  void remove_partial() const {
    std::error_code ec;
    if (std::filesystem::is_regular_file(path_, ec)) std::filesystem::remove(path_, ec);
  }
  [[noreturn]] void fail(const char* what) const {
    throw std::runtime_error(std::string(what) + " '" + path_ + "': " + std::strerror(errno));
  }
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace

// Formatted by hand into a buffer flushed every few MB: nlohmann objects per
// event made a million spans take 10-17 s to write.
void TraceRecorder::write(const std::string& path) const {
  TraceFile file(path);
  const double us_per_tick = ns_per_tick() / 1000.0;
  std::vector<std::string> quoted;  // JSON-escaped stage names
  for (const auto& n : names_) quoted.push_back(nlohmann::json(n).dump());
  fmt::memory_buffer buf;
  auto out = std::back_inserter(buf);
  fmt::format_to(out, R"({{"traceEvents":[{{"name":"process_name","ph":"M","pid":1,"tid":0,)"
                      R"("args":{{"name":"sluice"}}}})");
  for (size_t t = 0; t < slots_.size(); ++t) {
    if (slots_[t].events.empty()) continue;
    fmt::format_to(out,
                   R"(,{{"name":"thread_name","ph":"M","pid":1,"tid":{},)"
                   R"("args":{{"name":"worker {}"}}}})",
                   t, t);
    for (const Event& e : slots_[t].events) {
      fmt::format_to(out,
                     R"(,{{"name":{},"cat":"stage","ph":"X","pid":1,"tid":{},)"
                     R"("ts":{:.3f},"dur":{:.3f}}})",
                     quoted[static_cast<size_t>(e.stage)], t, e.start * us_per_tick,
                     e.dur * us_per_tick);
      if (buf.size() > (4u << 20)) {
        file.write(buf);
        buf.clear();
      }
    }
  }
  const std::string note_text = note();
  fmt::format_to(out,
                 R"(],"displayTimeUnit":"ms","otherData":{{"spans_recorded":{},)"
                 R"("spans_not_recorded":{},"truncated":{},"note":{}}}}})",
                 recorded(), dropped(), dropped() ? "true" : "false",
                 nlohmann::json(note_text).dump());
  buf.push_back('\n');
  file.write(buf);
  file.close();
}

}  // namespace sluice
