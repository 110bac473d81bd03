#include "pipeline/stage.h"

#include "pipeline/run_control.h"

namespace sluice {

const char* stage_kind_name(StageKind kind) {
  switch (kind) {
    case StageKind::kSource: return "source";
    case StageKind::kTransform: return "transform";
    case StageKind::kSink: return "sink";
  }
  return "?";
}

ParamCheck::ParamCheck(std::string stage_id, const Params& params,
                       std::map<std::string, SourceLocation> value_where, SourceLocation header,
                       std::string config_dir, std::string label, std::vector<Diagnostic>& errors)
    : stage_id_(std::move(stage_id)),
      params_(params),
      value_where_(std::move(value_where)),
      header_(std::move(header)),
      config_dir_(std::move(config_dir)),
      label_(std::move(label)),
      errors_(errors) {}

void ParamCheck::error(const std::string& key, const std::string& message) const {
  auto it = value_where_.find(key);
  errors_.push_back({it != value_where_.end() ? it->second : header_, label_ + ": " + message});
  ++count_;
}

const ParamSpec* StageSpec::find_param(const std::string& pname) const {
  for (const auto& p : params) {
    if (p.name == pname) return &p;
  }
  return nullptr;
}

StageContext::StageContext(std::string id, uint64_t run_seed, spdlog::logger* logger,
                           CounterSet* counters, RunControl* control)
    : id_(std::move(id)),
      seed_(hash_combine(run_seed, hash_string(id_.c_str()))),
      logger_(logger),
      counters_(counters),
      control_(control) {}

Counter& StageContext::counter(const std::string& name) { return counters_->get(id_ + "." + name); }
void StageContext::request_stop() { control_->request_stop(); }
bool StageContext::stop_requested() const { return control_->stop_requested(); }
void StageContext::request_start_epoch(int64_t epoch) { control_->request_start_epoch(epoch); }
int64_t StageContext::start_epoch() const { return control_->start_epoch(); }
void StageContext::request_start_position(const DataPosition& position) {
  control_->request_start_position(position);
}
DataPosition StageContext::start_position() const { return control_->start_position(); }
void StageContext::announce_resumed_items(int64_t items) { control_->add_resumed_items(items); }
int64_t StageContext::resumed_items() const { return control_->resumed_items(); }
const std::string& StageContext::run_config() const { return control_->config_toml; }
int StageContext::threads() const { return control_->threads; }
void StageContext::announce_split_items(const std::string& split, int64_t items) {
  control_->add_split_items(split, items);
}
int64_t StageContext::split_items(const std::string& split) const {
  return control_->split_items(split);
}
LiveMetrics& StageContext::live() const { return *control_->live; }
const std::vector<ElementSpec>& StageContext::input_specs() const {
  static const std::vector<ElementSpec> kNone;
  auto it = control_->input_specs.find(id_);
  return it == control_->input_specs.end() ? kNone : it->second;
}

}  // namespace sluice
