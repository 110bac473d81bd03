#include "pipeline/profiler.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "pipeline/atomic_file.h"
#include "pipeline/clock.h"
#include "pipeline/text_escape.h"

namespace sluice {

const char* run_status_name(RunStatus status) {
  switch (status) {
    case RunStatus::kCompleted:
      return "completed";
    case RunStatus::kStopped:
      return "stopped";
    case RunStatus::kInterrupted:
      return "interrupted";
    case RunStatus::kFailed:
      return "failed";
  }
  return "?";
}

double LatencyHistogram::bucket_mid(int b) {
  if (b < kSubBuckets) return b;
  int msb = b / kSubBuckets + 2;
  int sub = b % kSubBuckets;
  double lo = std::ldexp(1.0, msb) * (1.0 + sub / static_cast<double>(kSubBuckets));
  double width = std::ldexp(1.0, msb - 3);
  return lo + width / 2;
}

void LatencyHistogram::record(uint64_t ticks) {
  buckets_[bucket_of(ticks)].fetch_add(1, std::memory_order_relaxed);
}

void LatencyHistogram::add(const LatencyHistogram& other) {
  for (int b = 0; b < kBuckets; ++b) {
    buckets_[b].fetch_add(other.buckets_[b].load(std::memory_order_relaxed),
                          std::memory_order_relaxed);
  }
}

StageStats::StageStats(size_t slots) : slots_(new StatSlot[slots + 1]), n_(slots + 1) {}

void StageStats::total(uint64_t& items_in, uint64_t& items_out, uint64_t& calls, uint64_t& busy,
                       uint64_t& wait, LatencyHistogram& latency) const {
  items_in = items_out = calls = busy = wait = 0;
  for (size_t i = 0; i < n_; ++i) {
    const StatSlot& s = slots_[i];
    items_in += s.items_in.load();
    items_out += s.items_out.load();
    calls += s.calls.load();
    busy += s.busy.load();
    wait += s.wait.load();
    latency.add(s.latency);
  }
}

void StageStats::counts(uint64_t& items_in, uint64_t& items_out, uint64_t& busy,
                        uint64_t& wait) const {
  items_in = items_out = busy = wait = 0;
  for (size_t i = 0; i < n_; ++i) {
    const StatSlot& s = slots_[i];
    items_in += s.items_in.load(std::memory_order_relaxed);
    items_out += s.items_out.load(std::memory_order_relaxed);
    busy += s.busy.load(std::memory_order_relaxed);
    wait += s.wait.load(std::memory_order_relaxed);
  }
}

uint64_t LatencyHistogram::count() const {
  uint64_t n = 0;
  for (const auto& b : buckets_) n += b.load(std::memory_order_relaxed);
  return n;
}

double LatencyHistogram::quantile(double q) const {
  uint64_t n = count();
  if (n == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(n)));
  rank = std::max<uint64_t>(rank, 1);
  uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += buckets_[b].load(std::memory_order_relaxed);
    if (seen >= rank) return bucket_mid(b);
  }
  return bucket_mid(kBuckets - 1);
}

StageProfile make_profile(const StageStats& s, double wall_s, size_t effective_concurrency) {
  StageProfile p;
  uint64_t calls = 0, busy = 0, wait = 0;
  auto latency = std::make_unique<LatencyHistogram>();
  s.total(p.items_in, p.items_out, calls, busy, wait, *latency);
  const double ns = ns_per_tick();
  p.busy_s = busy * ns * 1e-9;
  p.wait_s = wait * ns * 1e-9;
  p.mean_us = calls ? busy * ns * 1e-3 / calls : 0;
  p.p50_us = latency->quantile(0.50) * ns * 1e-3;
  p.p95_us = latency->quantile(0.95) * ns * 1e-3;
  p.p99_us = latency->quantile(0.99) * ns * 1e-3;
  uint64_t items = std::max(p.items_in, p.items_out);
  p.items_per_s = wall_s > 0 ? items / wall_s : 0;
  p.utilisation = wall_s > 0 ? p.busy_s / (wall_s * std::max<size_t>(1, effective_concurrency)) : 0;
  return p;
}

void mark_bottleneck(std::vector<StageProfile>& stages) {
  StageProfile* best = nullptr;
  for (auto& s : stages) {
    s.bottleneck = false;
    // A stage no item passed through limited nothing (e.g. an index whose epochs
    // a resumed run had all done).
    if (s.items_in == 0 && s.items_out == 0) continue;
    if (!best || s.utilisation > best->utilisation) best = &s;
  }
  if (best && best->busy_s > 0) best->bottleneck = true;
}

namespace {
std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
std::string human_count(uint64_t n) { return std::to_string(n); }
std::string human_rate(double r) {
  if (r >= 1e6) return fmt("%.2fM", r / 1e6);
  if (r >= 1e4) return fmt("%.1fk", r / 1e3);
  return fmt("%.1f", r);
}
std::string human_us(double us) {
  if (us >= 1e6) return fmt("%.2fs", us / 1e6);
  if (us >= 1e3) return fmt("%.2fms", us / 1e3);
  if (us >= 1) return fmt("%.1fus", us);
  return fmt("%.0fns", us * 1e3);
}
// The mean wait of one item: the total is summed over items that wait at the
// same time, so it can exceed the wall time; per item it compares with `mean`.
double wait_per_item_us(const StageProfile& s) {
  const uint64_t items = std::max(s.items_in, s.items_out);
  return items ? s.wait_s * 1e6 / static_cast<double>(items) : 0.0;
}
}  // namespace

void print_profile_table(std::ostream& out, const RunReport& r, bool detailed) {
  std::vector<std::string> head = {"stage", "type", "conc", "in", "out", "items/s", "busy s"};
  if (detailed) {
    for (const char* h : {"wait/item", "mean", "p50", "p95", "p99"}) head.push_back(h);
  }
  head.push_back("util");
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : r.stages) {
    // printable(): a quoted TOML key may hold a newline or an escape sequence.
    std::vector<std::string> row = {
        printable(s.id),         printable(s.type),        s.concurrency,
        human_count(s.items_in), human_count(s.items_out), human_rate(s.items_per_s),
        fmt("%.3f", s.busy_s)};
    if (detailed) {
      row.push_back(human_us(wait_per_item_us(s)));
      for (double v : {s.mean_us, s.p50_us, s.p95_us, s.p99_us}) row.push_back(human_us(v));
    }
    row.push_back(fmt("%.0f%%", s.utilisation * 100) + (s.bottleneck ? "  <- bottleneck" : ""));
    rows.push_back(std::move(row));
  }
  std::vector<size_t> width(head.size());
  for (size_t c = 0; c < head.size(); ++c) {
    width[c] = head[c].size();
    for (const auto& row : rows) {
      if (c + 1 < head.size()) width[c] = std::max(width[c], row[c].size());
    }
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t c = 0; c < cells.size(); ++c) {
      bool left = c < 3;
      std::string cell = cells[c];
      if (c + 1 == cells.size()) {
        s += cell;
        break;
      }
      std::string pad(width[c] > cell.size() ? width[c] - cell.size() : 0, ' ');
      s += left ? cell + pad : pad + cell;
      s += "  ";
    }
    out << s << '\n';
  };
  out << "profile: " << (r.pipeline.empty() ? "pipeline" : printable(r.pipeline)) << " — "
      << run_status_name(r.status) << " in " << fmt("%.3f", r.wall_s) << " s, " << r.threads
      << " thread(s), in flight <= " << r.max_in_flight << " (peak " << r.peak_in_flight << ")\n";
  line(head);
  for (const auto& row : rows) line(row);
  for (const auto& c : r.chains) {
    std::string ids;
    for (const auto& id : c) ids += (ids.empty() ? "" : " -> ") + id;
    out << "chained in one node: " << ids << '\n';
  }
  // Non-zero counters only (the JSON report has all of them).
  size_t zero = 0;
  std::string lines;
  for (const auto& [name, v] : r.counters) {
    if (v == 0) {
      ++zero;
    } else {
      lines += "  " + printable(name) + " = " + std::to_string(v) + "\n";
    }
  }
  if (!lines.empty()) out << "counters:\n" << lines;
  if (zero) out << "(" << zero << " counter(s) at zero not shown; --profile FILE.json has all)\n";
  if (detailed) {
    out << "wait/item: mean time an item waited for the stage (queued; for a source, blocked "
           "on back-pressure per item emitted)\n";
  }
}

std::string profile_json(const RunReport& r) {
  nlohmann::json j;
  j["pipeline"] = r.pipeline;
  j["status"] = run_status_name(r.status);
  if (!r.error.empty()) j["error"] = r.error;
  j["wall_s"] = r.wall_s;
  j["threads"] = r.threads;
  j["max_in_flight"] = r.max_in_flight;
  j["peak_in_flight"] = r.peak_in_flight;
  j["stages"] = nlohmann::json::array();
  for (const auto& s : r.stages) {
    j["stages"].push_back(
        {{"id", s.id},
         {"type", s.type},
         {"kind", s.kind},
         {"concurrency", s.concurrency},
         {"items_in", s.items_in},
         {"items_out", s.items_out},
         {"busy_s", s.busy_s},
         {"wait_s", s.wait_s},
         {"wait_per_item_us", wait_per_item_us(s)},
         {"latency_us",
          {{"mean", s.mean_us}, {"p50", s.p50_us}, {"p95", s.p95_us}, {"p99", s.p99_us}}},
         {"items_per_s", s.items_per_s},
         {"utilisation", s.utilisation},
         {"bottleneck", s.bottleneck}});
  }
  j["chains"] = r.chains;
  j["counters"] = r.counters;
  // The timeline's long arrays on one line each, not one number per line.
  // Stage errors quote data files: a byte that is not UTF-8 becomes U+FFFD
  // instead of making dump() throw and the profile go unwritten.
  std::string text = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  text.erase(text.size() - 2);  // "\n}"
  return text + ",\n  \"timeline\": " + r.timeline.to_json() + "\n}";
}

void write_profile_json(const std::string& path, const RunReport& report) {
  const std::string text = profile_json(report) + "\n";
  // A file (in a run folder others may write) is replaced whole, never written
  // through a planted link; a pipe or a terminal (--profile /dev/stdout) is written.
  struct stat st {};
  const bool stream =
      ::stat(path.c_str(), &st) == 0 && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode));
  if (!stream) {
    try {
      write_file_atomically(path, text);
    } catch (const std::exception& e) {
      throw std::runtime_error("cannot write profile file '" + path + "': " + e.what());
    }
    return;
  }
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    throw std::runtime_error("cannot write profile file '" + path + "': " + std::strerror(errno));
  }
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const int saved = errno;
  if (std::fclose(f) != 0 || !written) {
    throw std::runtime_error("error writing profile file '" + path +
                             "': " + std::strerror(written ? errno : saved));
  }
}

}  // namespace sluice
