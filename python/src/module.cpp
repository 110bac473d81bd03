// sluice._core: the compiled half of the `sluice` Python package (the Python
// half, python/sluice/, adds epochs, splits and the PyTorch helper). The graph
// runs on C++ threads with the GIL released; Python waits on the output queue
// with a timeout so that Ctrl-C reaches it.
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <vector>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "pipeline/element_spec.h"
#include "pipeline/profiler.h"
#include "pipeline/version.h"
#include "python/src/payload_convert.h"
#include "python/src/py_pipeline.h"
#include "vision/payloads.h"

namespace py = pybind11;
using namespace sluice;
using namespace sluice::python;

namespace {

constexpr std::chrono::milliseconds kSignalPoll{50};

// A pipeline and how its batches are shown to Python.
struct CorePipeline {
  std::unique_ptr<PyPipeline> impl;
  ConvertOptions convert;
};

// The next stream element as (kind, value): ("data", payload),
// ("end_of_split", (split, epoch)), ("end_of_epoch", epoch); None at the end.
py::object next_element(CorePipeline& p, uint64_t run) {
  OutputItem item;
  for (;;) {
    OutputQueue::Pop r;
    {
      py::gil_scoped_release nogil;
      r = p.impl->next(run, item, kSignalPoll);
    }
    if (r == OutputQueue::Pop::kEnd) return py::none();
    if (r == OutputQueue::Pop::kItem) break;
    if (PyErr_CheckSignals() != 0) {
      py::error_already_set pending;  // takes the KeyboardInterrupt (or other) off the thread
      {
        py::gil_scoped_release nogil;
        p.impl->close();
      }
      throw pending;
    }
  }
  if (item.control) {
    const Control& c = *item.control;
    if (c.kind == ControlKind::kEndOfSplit) {
      return py::make_tuple("end_of_split", py::make_tuple(c.split, c.epoch));
    }
    return py::make_tuple("end_of_epoch", c.epoch);
  }
  return py::make_tuple("data", payload_to_python(item.value, p.convert));
}

// What feeds Python, as validation computed it; null when not known.
const ElementSpec* output_element_spec(const CorePipeline& p) {
  const ValidatedGraph& g = p.impl->graph();
  const ValidatedStage* s = g.find(p.impl->output().python_stage);
  if (!s || s->inputs.empty()) return nullptr;
  return &g.stages[s->inputs[0]].output_spec;
}

// The label of what feeds Python as {"kind", "attribute", "names"}; None when
// the graph does not say.
py::object output_label(const CorePipeline& p) {
  const ElementSpec* spec = output_element_spec(p);
  if (!spec || !spec->label || spec->label->kind == LabelSpec::Kind::kUnknown) {
    return py::none();
  }
  py::dict d;
  d["kind"] = label_kind_name(spec->label->kind);
  d["attribute"] = spec->label->attribute;
  d["names"] = spec->label->names;
  return d;
}

py::object param_default(const ParamValue& v) {
  return std::visit(
      [](const auto& x) -> py::object {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return py::none();
        } else {
          return py::cast(x);
        }
      },
      v);
}

// The stages that feed Python, source first, as (id, type, {parameter: value});
// None when one on the way has several inputs (or none feeds Python).
py::object upstream_chain(const CorePipeline& p) {
  const ValidatedGraph& g = p.impl->graph();
  const ValidatedStage* s = g.find(p.impl->output().python_stage);
  py::list chain;
  while (s && !s->inputs.empty()) {
    if (s->inputs.size() != 1) return py::none();
    s = &g.stages[s->inputs[0]];
    py::dict params;
    for (const auto& [name, value] : s->params.values())
      params[py::str(name)] = param_default(value);
    chain.insert(0, py::make_tuple(s->id, s->entry ? s->entry->spec.name : "", params));
  }
  if (chain.empty()) return py::none();
  return chain;
}

py::list stage_list(const std::vector<std::string>& plugins) {
  Registry registry = make_module_registry(plugins);
  py::list out;
  for (const StageEntry* e : module_stage_types(registry)) {
    const StageSpec& s = e->spec;
    py::list params;
    for (const ParamSpec& p : s.params) {
      py::dict d;
      d["name"] = p.name;
      d["type"] = param_type_name(p.type);
      d["default"] = param_default(p.default_value);
      d["required"] = p.is_required;
      d["doc"] = p.doc;
      d["min"] = p.min_value ? py::cast(*p.min_value) : py::none();
      d["max"] = p.max_value ? py::cast(*p.max_value) : py::none();
      d["choices"] = p.choices;
      params.append(d);
    }
    py::dict d;
    d["name"] = s.name;
    d["kind"] = stage_kind_name(s.kind);
    d["summary"] = s.summary;
    d["input"] = s.input.present ? py::cast(s.input.name) : py::none();
    d["output"] = s.output.present ? py::cast(s.output.name) : py::none();
    d["ordered"] = s.ordered_input;
    d["parallel"] = s.thread_safe;
    d["origin"] = e->origin;
    d["params"] = params;
    out.append(d);
  }
  return out;
}

// Heap buffers whose addresses are recorded, for the zero-copy test.
class RecordingAllocator : public BufferAllocator {
 public:
  ByteBuffer allocate(size_t bytes) override {
    ByteBuffer b(new uint8_t[bytes]);
    std::lock_guard<std::mutex> lock(mutex_);
    sizes_[reinterpret_cast<uintptr_t>(b.get())] = bytes;
    return b;
  }
  const char* name() const override { return "recording heap"; }
  std::unordered_map<uintptr_t, size_t> snapshot() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return sizes_;
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<uintptr_t, size_t> sizes_;
};

std::shared_ptr<RecordingAllocator>& recording() {
  static std::shared_ptr<RecordingAllocator> r;
  return r;
}

void set_log_level(const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    throw py::value_error("log level must be trace, debug, info, warn, error, critical or off");
  }
  spdlog::set_level(lvl);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "sluice's C++ core: validated pipelines run on oneTBB, iterated from Python";
  // Logs go to stderr, warnings and errors only unless set_log_level says otherwise.
  auto logger = spdlog::stderr_color_mt("sluice-python");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::warn);
  spdlog::set_pattern("[%H:%M:%S.%e] [%n] [%^%l%$] %v");

  // Never destroyed: the interpreter may be gone when static objects are.
  static auto* config_error = new py::exception<ConfigError>(m, "ConfigError", PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr e) {
    try {
      if (e) std::rethrow_exception(e);
    } catch (const ConfigError& err) {
      std::ostringstream text;
      print_diagnostics(text, err.diagnostics());
      py::list diagnostics;
      for (const Diagnostic& d : err.diagnostics()) {
        py::dict x;
        x["file"] = d.where.file;
        x["line"] = d.where.line;
        x["col"] = d.where.column;
        x["message"] = d.message;
        x["text"] = format_diagnostic(d);
        diagnostics.append(x);
      }
      std::string s = text.str();
      while (!s.empty() && s.back() == '\n') s.pop_back();
      py::object type = py::reinterpret_borrow<py::object>(config_error->ptr());
      py::object exc = type(py::str(s));
      exc.attr("diagnostics") = diagnostics;
      PyErr_SetObject(config_error->ptr(), exc.ptr());
    }
  });

  py::class_<CorePipeline>(m, "Pipeline")
      .def(py::init([](const std::string& path, const std::vector<std::string>& overrides,
                       int64_t threads, const std::vector<std::string>& plugins,
                       const std::string& output, int64_t max_in_flight, size_t queue_depth,
                       bool normalize, std::optional<int64_t> rank,
                       std::optional<int64_t> world_size) {
             PipelineOptions o;
             o.path = path;
             o.overrides = overrides;
             o.threads = threads;
             o.plugins = plugins;
             o.output = output;
             o.max_in_flight = max_in_flight;
             o.queue_depth = queue_depth;
             o.rank = rank;
             o.world_size = world_size;
             auto p = std::make_unique<CorePipeline>();
             {
               py::gil_scoped_release nogil;
               p->impl = std::make_unique<PyPipeline>(std::move(o));
             }
             p->convert.normalize = normalize;
             return p;
           }),
           py::arg("path"), py::arg("overrides"), py::arg("threads"), py::arg("plugins"),
           py::arg("output"), py::arg("max_in_flight"), py::arg("queue_depth"),
           py::arg("normalize"), py::arg("rank"), py::arg("world_size"))
      .def("start", [](CorePipeline& p) { return p.impl->start(); })
      .def("running", [](const CorePipeline& p) { return p.impl->running(); })
      .def("next", &next_element, py::arg("run"))
      .def("close",
           [](CorePipeline& p) {
             py::gil_scoped_release nogil;
             p.impl->close();
           })
      .def_property_readonly("output",
                             [](const CorePipeline& p) { return p.impl->output().output; })
      .def_property_readonly("output_stage",
                             [](const CorePipeline& p) { return p.impl->output().python_stage; })
      .def_property_readonly("output_spec",
                             [](const CorePipeline& p) {
                               const ElementSpec* spec = output_element_spec(p);
                               return spec ? spec->to_string() : std::string();
                             })
      .def_property_readonly("output_label", &output_label)
      .def_property_readonly("upstream", &upstream_chain)
      .def_property_readonly("output_splits",
                             [](const CorePipeline& p) {
                               const ElementSpec* spec = output_element_spec(p);
                               return spec ? spec->splits : std::vector<std::string>{};
                             })
      .def_property_readonly("stages",
                             [](const CorePipeline& p) {
                               std::vector<std::string> ids;
                               for (const auto& s : p.impl->graph().stages) ids.push_back(s.id);
                               return ids;
                             })
      .def_property_readonly("name", [](const CorePipeline& p) { return p.impl->graph().name; })
      .def("report_status",
           [](const CorePipeline& p) -> py::object {
             const auto r = p.impl->report();
             if (!r) return py::none();
             return py::make_tuple(run_status_name(r->status), r->error, r->failed_stage);
           })
      .def("profile_json",
           [](const CorePipeline& p) -> py::object {
             const auto r = p.impl->report();
             if (!r) return py::none();
             return py::str(profile_json(*r));
           })
      .def("profile_table", [](const CorePipeline& p) -> py::object {
        const auto r = p.impl->report();
        if (!r) return py::none();
        std::ostringstream os;
        print_profile_table(os, *r);
        return py::str(os.str());
      });

  m.def("stages", &stage_list, py::arg("plugins") = std::vector<std::string>{},
        "Stage types this module can run, with their ports and parameters.");
  m.def("set_log_level", &set_log_level, py::arg("level"),
        "Level of the stages' logs on stderr: trace, debug, info, warn (default), error, off.");
  m.def("_record_allocations", [] {
    recording() = std::make_shared<RecordingAllocator>();
    set_buffer_allocator(recording());
  });
  m.def("_allocations", []() -> py::dict {
    py::dict out;
    if (recording()) {
      for (const auto& [addr, bytes] : recording()->snapshot()) out[py::int_(addr)] = bytes;
    }
    return out;
  });
  m.attr("sdk_version") = SLUICE_SDK_VERSION;
}
