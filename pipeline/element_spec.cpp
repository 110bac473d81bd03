#include "pipeline/element_spec.h"

#include <cmath>
#include <cstdio>

namespace sluice {

namespace {

std::string join(const std::vector<std::string>& names, const char* sep) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : sep) + n;
  return out;
}

// At most `max` names, then "...".
std::string short_list(const std::vector<std::string>& names, size_t max = 6) {
  if (names.size() <= max) return join(names, ", ");
  std::vector<std::string> head(names.begin(), names.begin() + static_cast<ptrdiff_t>(max));
  return join(head, ", ") + ", ...";
}

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

const char* label_kind_name(LabelSpec::Kind kind) {
  switch (kind) {
    case LabelSpec::Kind::kUnknown:
      return "unknown";
    case LabelSpec::Kind::kBinary:
      return "binary";
    case LabelSpec::Kind::kCategorical:
      return "categorical";
    case LabelSpec::Kind::kMultiLabel:
      return "multi-label";
  }
  return "?";
}

LabelSpec LabelSpec::from_classes(std::string attribute, std::vector<std::string> class_names,
                                  std::string stage, std::string param) {
  LabelSpec l;
  l.kind = class_names.size() == 2 ? Kind::kBinary : Kind::kCategorical;
  l.attribute = std::move(attribute);
  l.names = std::move(class_names);
  l.from_stage = std::move(stage);
  l.from_param = std::move(param);
  return l;
}

std::string LabelSpec::to_string() const {
  switch (kind) {
    case Kind::kUnknown:
      return "unknown";
    case Kind::kBinary:
      return "binary \"" + attribute + "\" (" + join(names, "/") + ")";
    case Kind::kCategorical:
      return "categorical with " + std::to_string(names.size()) + " class" +
             (names.size() == 1 ? "" : "es") + " (" + short_list(names) + ")";
    case Kind::kMultiLabel:
      return "multi-label with " + std::to_string(names.size()) + " attributes (" +
             short_list(names) + ")";
  }
  return "?";
}

std::string ImageSpec::shape_string() const {
  const std::string c = channels > 0 ? std::to_string(channels) : "?";
  if (!fixed_size()) return "variable size x" + c;
  return std::to_string(height) + "x" + std::to_string(width) + "x" + c;
}

std::string ImageSpec::pixel_string() const {
  switch (normalization.kind) {
    case Normalization::Kind::kNone:
      return "uint8";
    case Normalization::Kind::kRescale: {
      const double inverse = 1.0 / normalization.scale;
      if (std::abs(inverse - std::round(inverse)) < 1e-6 * std::abs(inverse)) {
        return "uint8->rescale 1/" + format_number(std::round(inverse));
      }
      return "uint8->rescale " + format_number(normalization.scale);
    }
    case Normalization::Kind::kMeanStd: {
      if (!normalization_name.empty()) return "uint8->normalize " + normalization_name;
      std::string m, s;
      for (int c = 0; c < 3; ++c) {
        m += (c ? "," : "") + format_number(normalization.mean[c]);
        s += (c ? "," : "") + format_number(normalization.std[c]);
      }
      return "uint8->normalize mean (" + m + ") std (" + s + ")";
    }
  }
  return "?";
}

std::string ElementSpec::to_string() const {
  std::vector<std::string> parts;
  if (image) {
    std::string shape = image->shape_string() + " " + image->pixel_string();
    if (batch_size > 0) shape = std::to_string(batch_size) + " x " + shape;
    parts.push_back(shape);
  } else if (batch_size > 0) {
    parts.push_back(std::to_string(batch_size) + " per batch");
  }
  if (label) parts.push_back("label: " + label->to_string());
  if (!attributes.empty()) parts.push_back("attributes: " + std::to_string(attributes.size()));
  std::string out = type.empty() ? "unknown" : type;
  if (!parts.empty()) out += "{" + join(parts, ", ") + "}";
  if (epochs > 0) {
    out += " [" + std::to_string(epochs) + " epoch" + (epochs == 1 ? "" : "s");
    if (!splits.empty()) out += ": " + join(splits, ", ");
    out += "]";
  }
  return out;
}

SpecContext::SpecContext(std::string stage_id, std::string stage_type, SourceLocation header,
                         std::map<std::string, SourceLocation> param_where, std::string config_dir,
                         std::vector<Diagnostic>* errors)
    : stage_id_(std::move(stage_id)),
      stage_type_(std::move(stage_type)),
      header_(std::move(header)),
      param_where_(std::move(param_where)),
      config_dir_(std::move(config_dir)),
      errors_(errors) {}

void SpecContext::error(const std::string& key, const std::string& message) {
  failed_ = true;
  auto it = key.empty() ? param_where_.end() : param_where_.find(key);
  const SourceLocation& where = it != param_where_.end() ? it->second : header_;
  std::string text = "stage '" + stage_id_ + "'";
  if (!stage_type_.empty()) text += " (" + stage_type_ + ")";
  if (errors_) errors_->push_back({where, text + ": " + message});
}

}  // namespace sluice
