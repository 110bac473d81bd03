#include "stages/train/metrics.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "pipeline/atomic_file.h"
#include "pipeline/file_read.h"
#include "pipeline/text_escape.h"
#include "stages/train/atomic_file.h"

namespace sluice::train {
namespace {

double ratio(int64_t a, int64_t b) { return b == 0 ? 0.0 : static_cast<double>(a) / b; }

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace

void BinaryMetrics::add(float probability, int64_t label) {
  scores_.emplace_back(probability, static_cast<int8_t>(label != 0));
}

void BinaryMetrics::add_batch(const std::vector<float>& probabilities,
                              const std::vector<int64_t>& labels,
                              const std::shared_ptr<const std::vector<std::string>>& attr_names,
                              const std::vector<int8_t>& attrs) {
  if (probabilities.size() != labels.size()) {
    throw std::invalid_argument("metrics: " + std::to_string(probabilities.size()) +
                                " probabilities for " + std::to_string(labels.size()) + " labels");
  }
  const size_t n = probabilities.size();
  const size_t k = attr_names ? attr_names->size() : 0;
  if (k > 0 && attrs.size() >= n * k) {
    if (!attr_names_) {
      attr_names_ = attr_names;
      attributes_.resize(k);
      for (size_t j = 0; j < k; ++j) attributes_[j].name = (*attr_names)[j];
    }
    if (attr_names_->size() == k) {
      for (size_t i = 0; i < n; ++i) {
        const bool correct = (probabilities[i] >= threshold_) == (labels[i] != 0);
        for (size_t j = 0; j < k; ++j) {
          auto& a = attributes_[j];
          if (attrs[i * k + j] > 0) {
            ++a.positive_count;
            a.positive_correct += correct;
          } else {
            ++a.negative_count;
            a.negative_correct += correct;
          }
        }
      }
    }
  }
  for (size_t i = 0; i < n; ++i) add(probabilities[i], labels[i]);
}

void BinaryMetrics::add_loss(double loss_sum, int64_t count) {
  loss_sum_ += loss_sum;
  loss_count_ += count;
}

void BinaryMetrics::reset() {
  scores_.clear();
  loss_sum_ = 0.0;
  loss_count_ = 0;
  attr_names_.reset();
  attributes_.clear();
}

double roc_auc(std::vector<std::pair<float, int8_t>> scores) {
  int64_t positives = 0;
  for (const auto& s : scores) positives += s.second;
  const int64_t negatives = static_cast<int64_t>(scores.size()) - positives;
  if (positives == 0 || negatives == 0) return std::numeric_limits<double>::quiet_NaN();
  // A NaN score has no rank (and would break the sort's ordering and the tie
  // scan below, which then never advanced): the AUC is undefined.
  const bool any_nan =
      std::any_of(scores.begin(), scores.end(), [](const auto& s) { return std::isnan(s.first); });
  if (any_nan) return std::numeric_limits<double>::quiet_NaN();
  std::sort(scores.begin(), scores.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  // Mann-Whitney U: sum of the (average) ranks of the positives.
  double rank_sum = 0.0;
  size_t i = 0;
  while (i < scores.size()) {
    size_t j = i + 1;
    int64_t tied_pos = scores[i].second;
    while (j < scores.size() && scores[j].first == scores[i].first) tied_pos += scores[j++].second;
    const double avg_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    rank_sum += avg_rank * tied_pos;
    i = j;
  }
  const double u = rank_sum - static_cast<double>(positives) * (positives + 1) / 2.0;
  return u / (static_cast<double>(positives) * negatives);
}

MetricsReport BinaryMetrics::report() const {
  MetricsReport r;
  r.count = count();
  for (const auto& [p, label] : scores_) {
    const bool predicted = p >= threshold_;
    if (predicted && label) ++r.confusion.tp;
    if (predicted && !label) ++r.confusion.fp;
    if (!predicted && !label) ++r.confusion.tn;
    if (!predicted && label) ++r.confusion.fn;
  }
  const auto& c = r.confusion;
  r.accuracy = ratio(c.tp + c.tn, c.total());
  r.precision = ratio(c.tp, c.tp + c.fp);
  r.recall = ratio(c.tp, c.tp + c.fn);
  r.f1 = r.precision + r.recall > 0 ? 2 * r.precision * r.recall / (r.precision + r.recall) : 0.0;
  r.roc_auc = roc_auc(scores_);
  r.loss = loss_count_ > 0 ? loss_sum_ / loss_count_ : std::numeric_limits<double>::quiet_NaN();
  r.attributes = attributes_;
  return r;
}

nlohmann::json MetricsReport::to_json() const {
  nlohmann::json j;
  j["count"] = count;
  j["loss"] = number_or_null(loss);
  j["accuracy"] = accuracy;
  j["precision"] = precision;
  j["recall"] = recall;
  j["f1"] = f1;
  j["roc_auc"] = number_or_null(roc_auc);
  j["confusion"] = {
      {"tp", confusion.tp}, {"fp", confusion.fp}, {"tn", confusion.tn}, {"fn", confusion.fn}};
  nlohmann::json attrs = nlohmann::json::object();
  for (const auto& a : attributes) {
    attrs[a.name] = {
        {"positive",
         {{"count", a.positive_count},
          {"accuracy",
           number_or_null(a.positive_count ? ratio(a.positive_correct, a.positive_count) : NAN)}}},
        {"negative",
         {{"count", a.negative_count},
          {"accuracy",
           number_or_null(a.negative_count ? ratio(a.negative_correct, a.negative_count) : NAN)}}}};
  }
  j["attributes"] = attrs;
  return j;
}

std::string MetricsReport::to_table(const std::string& positive,
                                    const std::string& negative) const {
  // The class names come from checkpoints and configs: escaped for the terminal.
  const std::string positive_name = printable(positive), negative_name = printable(negative);
  std::ostringstream os;
  os << std::fixed << std::setprecision(4);
  os << "samples    " << count << "\n";
  if (std::isfinite(loss)) os << "loss       " << loss << "\n";
  os << "accuracy   " << accuracy << "\n"
     << "precision  " << precision << "\n"
     << "recall     " << recall << "\n"
     << "f1         " << f1 << "\n"
     << "roc_auc    " << (std::isfinite(roc_auc) ? std::to_string(roc_auc) : "n/a") << "\n\n";
  const size_t w = std::max<size_t>({positive_name.size(), negative_name.size(), 6}) + 2;
  os << "confusion matrix (rows: true, columns: predicted)\n"
     << std::setw(static_cast<int>(w)) << "" << std::setw(static_cast<int>(w)) << positive_name
     << std::setw(static_cast<int>(w)) << negative_name << "\n"
     << std::setw(static_cast<int>(w)) << positive_name << std::setw(static_cast<int>(w))
     << confusion.tp << std::setw(static_cast<int>(w)) << confusion.fn << "\n"
     << std::setw(static_cast<int>(w)) << negative_name << std::setw(static_cast<int>(w))
     << confusion.fp << std::setw(static_cast<int>(w)) << confusion.tn << "\n";
  if (!attributes.empty()) {
    size_t name_w = 9;
    for (const auto& a : attributes) name_w = std::max(name_w, a.name.size());
    os << "\naccuracy by attribute\n"
       << std::left << std::setw(static_cast<int>(name_w + 2)) << "attribute" << std::right
       << std::setw(10) << "with" << std::setw(8) << "n" << std::setw(10) << "without"
       << std::setw(8) << "n"
       << "\n";
    auto acc = [](int64_t correct, int64_t n) {
      if (n == 0) return std::string("n/a");
      std::ostringstream s;
      s << std::fixed << std::setprecision(4) << ratio(correct, n);
      return s.str();
    };
    for (const auto& a : attributes) {
      os << std::left << std::setw(static_cast<int>(name_w + 2)) << printable(a.name) << std::right
         << std::setw(10) << acc(a.positive_correct, a.positive_count) << std::setw(8)
         << a.positive_count << std::setw(10) << acc(a.negative_correct, a.negative_count)
         << std::setw(8) << a.negative_count << "\n";
    }
  }
  return os.str();
}

const std::vector<EpochMetricInfo>& epoch_metrics() {
  static const std::vector<EpochMetricInfo> kMetrics = {
      {EpochMetric::kEpoch, "epoch", false, true},
      {EpochMetric::kLoss, "loss", true, false},
      {EpochMetric::kAccuracy, "accuracy", true, false},
      {EpochMetric::kValLoss, "val_loss", true, false},
      {EpochMetric::kValAccuracy, "val_accuracy", true, false},
      {EpochMetric::kValPrecision, "val_precision", true, false},
      {EpochMetric::kValRecall, "val_recall", true, false},
      {EpochMetric::kValF1, "val_f1", true, false},
      {EpochMetric::kValAuc, "val_auc", true, false},
      {EpochMetric::kValTop5Accuracy, "val_top5_accuracy", true, false},
      {EpochMetric::kTrainImages, "train_images", false, true},
      {EpochMetric::kValImages, "val_images", false, true},
      {EpochMetric::kImagesPerSecond, "images_per_s", false, false},
      {EpochMetric::kSeconds, "seconds", false, false},
      {EpochMetric::kLearningRate, "lr", false, false},
  };
  return kMetrics;
}

const char* epoch_metric_name(EpochMetric metric) {
  return epoch_metrics()[static_cast<size_t>(metric)].name;
}

bool epoch_metric_is_integral(const std::string& name) {
  for (const auto& m : epoch_metrics()) {
    if (name == m.name) return m.integral;
  }
  return false;
}

namespace {
// Abbreviations the epoch log line printed before it used the metric names.
const std::pair<const char*, EpochMetric> kMetricAliases[] = {
    {"acc", EpochMetric::kAccuracy}, {"val_acc", EpochMetric::kValAccuracy}};
}  // namespace

std::vector<std::string> monitor_names() {
  std::vector<std::string> names;
  for (const auto& m : epoch_metrics()) {
    if (m.monitorable) names.emplace_back(m.name);
  }
  for (const auto& [alias, metric] : kMetricAliases) names.emplace_back(alias);
  return names;
}

std::string canonical_metric_name(const std::string& name) {
  for (const auto& [alias, metric] : kMetricAliases) {
    if (name == alias) return epoch_metric_name(metric);
  }
  return name;
}

EpochRecord::EpochRecord() : values_(epoch_metrics().size(), std::nan("")) {}

void EpochRecord::set(EpochMetric metric, double value) {
  values_[static_cast<size_t>(metric)] = value;
}

double EpochRecord::get(EpochMetric metric) const { return values_[static_cast<size_t>(metric)]; }

double EpochRecord::get(const std::string& name) const {
  const std::string canonical = canonical_metric_name(name);
  for (const auto& m : epoch_metrics()) {
    if (canonical == m.name) return get(m.metric);
  }
  return std::nan("");
}

std::vector<std::pair<std::string, double>> EpochRecord::items() const {
  std::vector<std::pair<std::string, double>> out;
  for (const auto& m : epoch_metrics()) out.emplace_back(m.name, get(m.metric));
  return out;
}

std::string EpochRecord::log_line(const std::string& duration) const {
  auto fixed = [](double v, int digits) {
    std::ostringstream os;
    os << std::fixed << std::setprecision(digits) << v;
    return os.str();
  };
  auto named = [&](EpochMetric m) {
    return std::string(epoch_metric_name(m)) + " " + fixed(get(m), 4);
  };
  using M = EpochMetric;
  const double rate = get(M::kImagesPerSecond);
  return "epoch " + fixed(get(M::kEpoch), 0) + ": " + named(M::kLoss) + " " + named(M::kAccuracy) +
         " | " + named(M::kValLoss) + " " + named(M::kValAccuracy) + " " + named(M::kValAuc) +
         " | " + fixed(std::isfinite(rate) ? rate : 0.0, 1) + " img/s, " + duration;
}

MetricsLog::MetricsLog(std::string dir) : dir_(std::move(dir)) {
  std::filesystem::create_directories(dir_);
}

void MetricsLog::write(const std::vector<std::pair<std::string, double>>& record) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : record) {
    // Counts stay integers ("epoch": 3): readers that compare types see a count.
    const bool whole = std::isfinite(v) && std::abs(v) < 9.0e15 && v == std::floor(v);
    j[k] = whole && epoch_metric_is_integral(k) ? nlohmann::json(static_cast<int64_t>(v))
                                                : number_or_null(v);
  }
  // Appended with O_NOFOLLOW: a link planted at either name is refused.
  append_to_file(dir_ + "/metrics.jsonl", j.dump() + "\n");
  const std::string csv = dir_ + "/metrics.csv";
  struct stat st {};
  const bool fresh = ::lstat(csv.c_str(), &st) != 0 || st.st_size == 0;
  std::ostringstream out;
  if (fresh) {
    for (size_t i = 0; i < record.size(); ++i) out << (i ? "," : "") << record[i].first;
    out << "\n";
  }
  out << std::setprecision(8);
  for (size_t i = 0; i < record.size(); ++i) {
    out << (i ? "," : "");
    if (std::isfinite(record[i].second)) out << record[i].second;
  }
  out << "\n";
  append_to_file(csv, out.str());
}

namespace {

// The lines of `path` (none when it does not exist).
std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::string text;
  // A FIFO or a device planted at the name is refused, not waited on.
  const FileReadResult r = try_read_regular_file(path, kMaxIndexBytes, "metrics log", text);
  if (r.status == FileReadStatus::kCannotOpen) return lines;
  if (!r.ok()) throw FileReadError(r);
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Rewrites `path` with `lines` when some were dropped.
void rewrite_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  write_file_atomically(path, text);
}

double epoch_of_json_line(const std::string& line) {
  const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  return j.is_object() && j.contains("epoch") && j["epoch"].is_number() ? j["epoch"].get<double>()
                                                                        : std::nan("");
}

}  // namespace

int64_t MetricsLog::keep_epochs(int64_t epochs_done) {
  const auto done = static_cast<double>(epochs_done);
  int64_t dropped = 0;
  const std::string jsonl = dir_ + "/metrics.jsonl";
  std::vector<std::string> kept;
  const auto json_lines = read_lines(jsonl);
  for (const auto& line : json_lines) {
    if (epoch_of_json_line(line) > done) continue;
    kept.push_back(line);
  }
  if (kept.size() != json_lines.size()) rewrite_lines(jsonl, kept);
  dropped = static_cast<int64_t>(json_lines.size() - kept.size());

  const std::string csv = dir_ + "/metrics.csv";
  const auto csv_lines = read_lines(csv);
  if (csv_lines.empty()) return dropped;
  size_t column = 0;  // "epoch" is the first column; find it anyway
  {
    std::istringstream header(csv_lines[0]);
    size_t i = 0;
    for (std::string cell; std::getline(header, cell, ','); ++i) {
      if (cell == epoch_metric_name(EpochMetric::kEpoch)) column = i;
    }
  }
  kept.assign(1, csv_lines[0]);
  for (size_t r = 1; r < csv_lines.size(); ++r) {
    std::istringstream row(csv_lines[r]);
    std::string cell;
    for (size_t i = 0; i <= column && std::getline(row, cell, ','); ++i) {
    }
    char* end = nullptr;
    const double epoch = std::strtod(cell.c_str(), &end);
    if (end != cell.c_str() && epoch > done) continue;
    kept.push_back(csv_lines[r]);
  }
  if (kept.size() != csv_lines.size()) rewrite_lines(csv, kept);
  return std::max(dropped, static_cast<int64_t>(csv_lines.size() - kept.size()));
}

}  // namespace sluice::train
