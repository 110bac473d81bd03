#include "stages/train/label_metrics.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "pipeline/text_escape.h"

namespace sluice::train {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double ratio(int64_t a, int64_t b) { return b == 0 ? 0.0 : static_cast<double>(a) / b; }

double f1_of(double precision, double recall) {
  return precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
}

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

std::string number_text(double v) {
  if (!std::isfinite(v)) return "n/a";
  std::ostringstream os;
  os << std::fixed << std::setprecision(4) << v;
  return os.str();
}

size_t widest(const std::vector<std::string>& names, size_t at_least) {
  size_t w = at_least;
  for (const auto& n : names) w = std::max(w, n.size());
  return w;
}

void check_rows(size_t probabilities, size_t width, const char* what) {
  if (width == 0 || probabilities % width != 0) {
    throw std::invalid_argument(std::string("metrics: ") + std::to_string(probabilities) +
                                " probabilities are not whole rows of " + std::to_string(width) +
                                " " + what);
  }
}

// Too many classes for a matrix: the most frequent confusions, one a line.
std::string confusions_table(const std::vector<std::string>& names,
                             const std::map<std::pair<size_t, size_t>, int64_t>& confusion) {
  constexpr size_t kShown = 20;
  std::vector<std::pair<int64_t, std::pair<size_t, size_t>>> off;
  for (const auto& [cell, images] : confusion) {
    if (cell.first != cell.second) off.push_back({images, cell});
  }
  const size_t shown = std::min(kShown, off.size());
  std::partial_sort(off.begin(), off.begin() + static_cast<ptrdiff_t>(shown), off.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  std::ostringstream os;
  os << "confusion matrix: " << names.size() << " classes, " << off.size()
     << " kinds of confusion; the most frequent (true -> predicted: images)\n";
  for (size_t i = 0; i < shown; ++i) {
    os << "  " << names[off[i].second.first] << " -> " << names[off[i].second.second] << ": "
       << off[i].first << "\n";
  }
  return os.str();
}

}  // namespace

CategoricalMetrics::CategoricalMetrics(std::vector<std::string> class_names)
    : names_(std::move(class_names)) {
  reset();
}

void CategoricalMetrics::add_batch(const std::vector<float>& probabilities,
                                   const std::vector<int64_t>& labels) {
  const size_t n = names_.size();
  check_rows(probabilities.size(), n, "classes");
  if (probabilities.size() / n != labels.size()) {
    throw std::invalid_argument("metrics: " + std::to_string(probabilities.size() / n) +
                                " predictions for " + std::to_string(labels.size()) + " labels");
  }
  std::vector<size_t>& order = order_;
  order.resize(n);
  for (size_t i = 0; i < labels.size(); ++i) {
    const float* p = probabilities.data() + i * n;
    const auto truth = labels[i];
    if (truth < 0 || static_cast<size_t>(truth) >= n) {
      throw std::invalid_argument("metrics: class id " + std::to_string(truth) + " for " +
                                  std::to_string(n) + " classes");
    }
    std::iota(order.begin(), order.end(), size_t{0});
    const size_t k = std::min<size_t>(5, n);
    std::partial_sort(order.begin(), order.begin() + static_cast<ptrdiff_t>(k), order.end(),
                      [p](size_t a, size_t b) { return p[a] > p[b]; });
    ++confusion_[{static_cast<size_t>(truth), order[0]}];
    ++support_[static_cast<size_t>(truth)];
    ++predicted_[order[0]];
    top1_ += order[0] == static_cast<size_t>(truth);
    top5_ += std::find(order.begin(), order.begin() + static_cast<ptrdiff_t>(k),
                       static_cast<size_t>(truth)) != order.begin() + static_cast<ptrdiff_t>(k);
    ++count_;
  }
}

void CategoricalMetrics::add_loss(double loss_sum, int64_t count) {
  loss_sum_ += loss_sum;
  loss_count_ += count;
}

void CategoricalMetrics::reset() {
  confusion_.clear();
  support_.assign(names_.size(), 0);
  predicted_.assign(names_.size(), 0);
  count_ = top1_ = top5_ = 0;
  loss_sum_ = 0.0;
  loss_count_ = 0;
}

CategoricalReport CategoricalMetrics::report() const {
  CategoricalReport r;
  r.count = count_;
  r.loss = loss_count_ > 0 ? loss_sum_ / loss_count_ : kNaN;
  r.top1 = ratio(top1_, count_);
  r.top5 = ratio(top5_, count_);
  r.confusion = confusion_;
  const size_t n = names_.size();
  int64_t present = 0;
  for (size_t c = 0; c < n; ++c) {
    ClassScores s;
    s.name = names_[c];
    s.support = support_[c];
    const int64_t right = r.confused(c, c);
    s.precision = ratio(right, predicted_[c]);
    s.recall = ratio(right, s.support);
    s.f1 = f1_of(s.precision, s.recall);
    if (s.support > 0) {
      ++present;
      r.macro_precision += s.precision;
      r.macro_recall += s.recall;
      r.macro_f1 += s.f1;
    }
    r.classes.push_back(s);
  }
  if (present > 0) {
    r.macro_precision /= static_cast<double>(present);
    r.macro_recall /= static_cast<double>(present);
    r.macro_f1 /= static_cast<double>(present);
  }
  return r;
}

int64_t CategoricalReport::confused(size_t truth, size_t predicted) const {
  const auto it = confusion.find({truth, predicted});
  return it == confusion.end() ? 0 : it->second;
}

nlohmann::json CategoricalReport::to_json() const {
  nlohmann::json j;
  j["kind"] = "categorical";
  j["count"] = count;
  j["loss"] = number_or_null(loss);
  j["accuracy"] = top1;
  j["top1"] = top1;
  j["top5"] = top5;
  j["precision"] = macro_precision;
  j["recall"] = macro_recall;
  j["f1"] = macro_f1;
  nlohmann::json per_class = nlohmann::json::array();
  std::vector<std::string> names;
  for (const auto& c : classes) {
    per_class.push_back({{"class", c.name},
                         {"support", c.support},
                         {"precision", c.precision},
                         {"recall", c.recall},
                         {"f1", c.f1}});
    names.push_back(c.name);
  }
  j["classes"] = per_class;
  j["confusion"] = {{"classes", names}};
  if (classes.size() <= kDenseConfusionClasses) {
    std::vector<std::vector<int64_t>> rows(classes.size(), std::vector<int64_t>(classes.size(), 0));
    for (const auto& [cell, images] : confusion) rows[cell.first][cell.second] = images;
    j["confusion"]["rows"] = rows;
  } else {
    nlohmann::json cells = nlohmann::json::array();
    for (const auto& [cell, images] : confusion) cells.push_back({cell.first, cell.second, images});
    j["confusion"]["cells"] = cells;
  }
  return j;
}

std::string CategoricalReport::to_table() const {
  std::ostringstream os;
  os << "samples    " << count << "\n";
  if (std::isfinite(loss)) os << "loss       " << number_text(loss) << "\n";
  os << "top-1      " << number_text(top1) << "\n"
     << "top-5      " << number_text(top5) << "\n"
     << "precision  " << number_text(macro_precision) << "  (mean over classes)\n"
     << "recall     " << number_text(macro_recall) << "\n"
     << "f1         " << number_text(macro_f1) << "\n\n";
  // Class names come from data files and checkpoints: escaped, so that a control
  // character cannot reach the terminal.
  std::vector<std::string> names;
  for (const auto& c : classes) names.push_back(printable(c.name));
  const int w = static_cast<int>(widest(names, 5) + 2);
  os << std::left << std::setw(w) << "class" << std::right << std::setw(11) << "precision"
     << std::setw(10) << "recall" << std::setw(10) << "f1" << std::setw(10) << "n"
     << "\n";
  for (size_t i = 0; i < classes.size(); ++i) {
    const ClassScores& c = classes[i];
    os << std::left << std::setw(w) << names[i] << std::right << std::setw(11)
       << number_text(c.precision) << std::setw(10) << number_text(c.recall) << std::setw(10)
       << number_text(c.f1) << std::setw(10) << c.support << "\n";
  }
  if (classes.size() > kTableConfusionClasses) {
    os << "\n" << confusions_table(names, confusion);
    return os.str();
  }
  const int cw = static_cast<int>(std::max<size_t>(widest(names, 6), 6) + 2);
  os << "\nconfusion matrix (rows: true, columns: predicted)\n" << std::setw(w) << "";
  for (const auto& n : names) os << std::setw(cw) << n;
  os << "\n";
  for (size_t t = 0; t < names.size(); ++t) {
    os << std::left << std::setw(w) << names[t] << std::right;
    for (size_t p = 0; p < names.size(); ++p) os << std::setw(cw) << confused(t, p);
    os << "\n";
  }
  return os.str();
}

MultiLabelMetrics::MultiLabelMetrics(std::vector<std::string> attribute_names, double threshold)
    : names_(std::move(attribute_names)), threshold_(threshold) {
  reset();
}

void MultiLabelMetrics::add_batch(const std::vector<float>& probabilities,
                                  const std::vector<int64_t>& labels) {
  const size_t k = names_.size();
  check_rows(probabilities.size(), k, "attributes");
  if (probabilities.size() != labels.size()) {
    throw std::invalid_argument("metrics: " + std::to_string(probabilities.size()) +
                                " probabilities for " + std::to_string(labels.size()) +
                                " label values");
  }
  for (size_t i = 0; i < probabilities.size(); ++i) {
    scores_[i % k].emplace_back(probabilities[i], static_cast<int8_t>(labels[i] != 0));
  }
}

void MultiLabelMetrics::add_loss(double loss_sum, int64_t count) {
  loss_sum_ += loss_sum;
  loss_count_ += count;
}

void MultiLabelMetrics::reset() {
  scores_.assign(names_.size(), {});
  loss_sum_ = 0.0;
  loss_count_ = 0;
}

MultiLabelReport MultiLabelMetrics::report() const {
  MultiLabelReport r;
  r.count = scores_.empty() ? 0 : static_cast<int64_t>(scores_.front().size());
  r.loss = loss_count_ > 0 ? loss_sum_ / loss_count_ : kNaN;
  int64_t with_auc = 0;
  for (size_t a = 0; a < names_.size(); ++a) {
    Confusion c;
    for (const auto& [p, label] : scores_[a]) {
      const bool predicted = p >= threshold_;
      c.tp += predicted && label;
      c.fp += predicted && !label;
      c.tn += !predicted && !label;
      c.fn += !predicted && label;
    }
    AttributeScores s;
    s.name = names_[a];
    s.positives = c.tp + c.fn;
    s.accuracy = ratio(c.tp + c.tn, c.total());
    s.precision = ratio(c.tp, c.tp + c.fp);
    s.recall = ratio(c.tp, c.tp + c.fn);
    s.f1 = f1_of(s.precision, s.recall);
    s.roc_auc = roc_auc(scores_[a]);
    r.mean_accuracy += s.accuracy;
    r.mean_precision += s.precision;
    r.mean_recall += s.recall;
    r.mean_f1 += s.f1;
    if (std::isfinite(s.roc_auc)) {
      r.mean_auc += s.roc_auc;
      ++with_auc;
    }
    r.attributes.push_back(s);
  }
  const auto k = static_cast<double>(std::max<size_t>(names_.size(), 1));
  r.mean_accuracy /= k;
  r.mean_precision /= k;
  r.mean_recall /= k;
  r.mean_f1 /= k;
  r.mean_auc = with_auc > 0 ? r.mean_auc / static_cast<double>(with_auc) : kNaN;
  return r;
}

nlohmann::json MultiLabelReport::to_json() const {
  nlohmann::json j;
  j["kind"] = "multi-label";
  j["count"] = count;
  j["loss"] = number_or_null(loss);
  j["accuracy"] = mean_accuracy;
  j["precision"] = mean_precision;
  j["recall"] = mean_recall;
  j["f1"] = mean_f1;
  j["roc_auc"] = number_or_null(mean_auc);
  nlohmann::json attrs = nlohmann::json::array();
  for (const auto& a : attributes) {
    attrs.push_back({{"attribute", a.name},
                     {"positives", a.positives},
                     {"accuracy", a.accuracy},
                     {"precision", a.precision},
                     {"recall", a.recall},
                     {"f1", a.f1},
                     {"roc_auc", number_or_null(a.roc_auc)}});
  }
  j["attributes"] = attrs;
  return j;
}

std::string MultiLabelReport::to_table() const {
  std::ostringstream os;
  os << "samples    " << count << "\n";
  if (std::isfinite(loss)) os << "loss       " << number_text(loss) << "\n";
  std::vector<std::string> names;
  for (const auto& a : attributes) names.push_back(printable(a.name));
  const int w = static_cast<int>(widest(names, 9) + 2);
  os << "\n"
     << std::left << std::setw(w) << "attribute" << std::right << std::setw(10) << "accuracy"
     << std::setw(11) << "precision" << std::setw(10) << "recall" << std::setw(10) << "f1"
     << std::setw(10) << "auc" << std::setw(10) << "with"
     << "\n";
  auto row = [&](const std::string& name, double acc, double p, double r, double f, double auc,
                 const std::string& with) {
    os << std::left << std::setw(w) << name << std::right << std::setw(10) << number_text(acc)
       << std::setw(11) << number_text(p) << std::setw(10) << number_text(r) << std::setw(10)
       << number_text(f) << std::setw(10) << number_text(auc) << std::setw(10) << with << "\n";
  };
  for (const auto& a : attributes) {
    row(printable(a.name), a.accuracy, a.precision, a.recall, a.f1, a.roc_auc,
        std::to_string(a.positives));
  }
  row("mean", mean_accuracy, mean_precision, mean_recall, mean_f1, mean_auc, "");
  return os.str();
}

LabelMetrics::LabelMetrics(LabelSpec::Kind kind, std::vector<std::string> output_names,
                           double threshold)
    : kind_(kind == LabelSpec::Kind::kUnknown ? LabelSpec::Kind::kBinary : kind),
      binary_(threshold),
      categorical_(kind_ == LabelSpec::Kind::kCategorical ? output_names
                                                          : std::vector<std::string>{}),
      multi_(kind_ == LabelSpec::Kind::kMultiLabel ? output_names : std::vector<std::string>{},
             threshold) {}

void LabelMetrics::add_batch(const std::vector<float>& probabilities,
                             const std::vector<int64_t>& labels,
                             const std::shared_ptr<const std::vector<std::string>>& attr_names,
                             const std::vector<int8_t>& attrs) {
  switch (kind_) {
    case LabelSpec::Kind::kCategorical:
      categorical_.add_batch(probabilities, labels);
      break;
    case LabelSpec::Kind::kMultiLabel:
      multi_.add_batch(probabilities, labels);
      break;
    default:
      binary_.add_batch(probabilities, labels, attr_names, attrs);
  }
}

void LabelMetrics::add_loss(double loss_sum, int64_t count) {
  binary_.add_loss(loss_sum, count);
  categorical_.add_loss(loss_sum, count);
  multi_.add_loss(loss_sum, count);
}

void LabelMetrics::reset() {
  binary_.reset();
  categorical_.reset();
  multi_.reset();
}

ValidationScores LabelMetrics::scores() const {
  ValidationScores s;
  switch (kind_) {
    case LabelSpec::Kind::kCategorical: {
      const auto r = categorical_.report();
      s = {r.count, r.loss, r.top1, r.macro_precision, r.macro_recall, r.macro_f1, kNaN};
      if (r.classes.size() >= 5) s.top5 = r.top5;
      break;
    }
    case LabelSpec::Kind::kMultiLabel: {
      const auto r = multi_.report();
      s = {r.count,       r.loss,    r.mean_accuracy, r.mean_precision,
           r.mean_recall, r.mean_f1, r.mean_auc};
      break;
    }
    default: {
      const auto r = binary_.report();
      s = {r.count, r.loss, r.accuracy, r.precision, r.recall, r.f1, r.roc_auc};
    }
  }
  return s;
}

nlohmann::json LabelMetrics::to_json() const {
  switch (kind_) {
    case LabelSpec::Kind::kCategorical:
      return categorical_.report().to_json();
    case LabelSpec::Kind::kMultiLabel:
      return multi_.report().to_json();
    default: {
      auto j = binary_.report().to_json();
      j["kind"] = "binary";
      return j;
    }
  }
}

std::string LabelMetrics::to_table(const std::string& positive_name,
                                   const std::string& negative_name) const {
  switch (kind_) {
    case LabelSpec::Kind::kCategorical:
      return categorical_.report().to_table();
    case LabelSpec::Kind::kMultiLabel:
      return multi_.report().to_table();
    default:
      return binary_.report().to_table(positive_name, negative_name);
  }
}

}  // namespace sluice::train
