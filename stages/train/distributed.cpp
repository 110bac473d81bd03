#include "stages/train/distributed.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>

// pip wheels of LibTorch 2.x define USE_C10D_GLOO but ship no gloo headers:
// the Gloo backend is then left out (NCCL remains on CUDA).
#if defined(USE_C10D_GLOO) && __has_include(<gloo/algorithm.h>)
#define SLUICE_HAVE_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "stages/train/model.h"
#include "stages/train/trainer.h"

namespace sluice::train {
namespace {

// LibTorch 2.x split the process group into a front (ProcessGroup) and backends;
// Gloo and NCCL are backends there and process groups themselves in 1.x.
#if TORCH_VERSION_MAJOR >= 2
using Group = c10d::Backend;
#else
using Group = c10d::ProcessGroup;
#endif
using WorkPtr = c10::intrusive_ptr<c10d::Work>;

double env_double(const char* name, double fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const double parsed = std::strtod(v, &end);
  if (end == v || *end != '\0' || !(parsed > 0)) {
    throw std::invalid_argument(std::string(name) + "='" + v + "' is not a positive number");
  }
  return parsed;
}

// The c10d store of the rendezvous. Rank 0 hosts it at MASTER_ADDR:MASTER_PORT and
// waits there for the others; under torchrun's agent store, the agent hosts it and
// every rank joins as a client, under the prefix PyTorch's own ranks use there
// (torch.distributed.rendezvous), so one restart's keys never meet another's.
c10::intrusive_ptr<c10d::Store> connect_store(const LaunchEnv& env,
                                              std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(env.master_port);
  so.isServer = env.rank == 0 && !env.agent_store;
  so.numWorkers = static_cast<std::size_t>(env.world_size);
  so.waitWorkers = !env.agent_store;  // the agent's rendezvous already gathered the ranks
  so.timeout = timeout;
  auto tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
  if (!env.agent_store) return tcp;
  return c10::make_intrusive<c10d::PrefixStore>(
      "/worker/attempt_" + std::to_string(env.restart_count), tcp);
}

std::string where(const LaunchEnv& env) {
  return "rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size);
}

}  // namespace

DistributedOptions DistributedOptions::from_environment() {
  DistributedOptions o;
  o.timeout_s = env_double("SLUICE_DIST_TIMEOUT_S", o.timeout_s);
  o.bucket_mb = env_double("SLUICE_DIST_BUCKET_MB", o.bucket_mb);
  const char* check = std::getenv("SLUICE_DIST_CHECK");
  o.check = check != nullptr && std::string(check) == "1";
  return o;
}

struct Distributed::Impl {
  LaunchEnv env;
  DistributedOptions options;
  std::string backend;
  torch::Device comm_device{torch::kCPU};  // where reductions of host values run
  std::chrono::milliseconds timeout{0};
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Group> group;

  // Gradient buckets, filled by autograd hooks during backward.
  struct Bucket {
    std::vector<torch::Tensor> params;
    std::vector<int64_t> offsets;
    torch::Tensor flat;
    std::vector<torch::Tensor> io;  // {flat}, for the collective's vector argument
    std::vector<int> seen;          // hook calls this step, per parameter
    int64_t pending = 0;
    WorkPtr work;
  };
  std::vector<Bucket> buckets;
  struct Hooked {
    torch::Tensor param;
    unsigned handle;
  };
  std::vector<Hooked> hooks;
  size_t next_launch = 0;
  std::mutex mutex;  // hooks may run on autograd's device threads
  Trainer* trainer = nullptr;
  double sync_seconds = 0.0;
  int64_t verified = 0;

  std::string context(const std::string& what) const {
    return "distributed " + what + " failed on " + where(env) + " (" + backend + ", timeout " +
           std::to_string(static_cast<int64_t>(options.timeout_s)) +
           " s): another rank died, hung or diverged: ";
  }

  void wait(const WorkPtr& work, const std::string& what) {
    try {
      work->wait();
    } catch (const std::exception& e) {
      throw std::runtime_error(context(what) + e.what());
    }
  }

  WorkPtr allreduce(std::vector<torch::Tensor>& tensors, const std::string& what) {
    try {
      return group->allreduce(tensors);
    } catch (const std::exception& e) {
      throw std::runtime_error(context(what) + e.what());
    }
  }

  void broadcast(torch::Tensor& t, const std::string& what) {
    torch::NoGradGuard no_grad;
    auto io = t.is_contiguous() ? t : t.contiguous();
    std::vector<torch::Tensor> tensors{io};
    WorkPtr work;
    try {
      work = group->broadcast(tensors);
    } catch (const std::exception& e) {
      throw std::runtime_error(context(what) + e.what());
    }
    wait(work, what);
    if (!io.is_same(t)) t.copy_(io);
  }

  void build_buckets(Model& model) {
    const auto bucket_bytes = static_cast<int64_t>(options.bucket_mb * 1024 * 1024);
    auto params = model.parameters();
    std::reverse(params.begin(), params.end());  // backward produces the last layers first
    Bucket current;
    int64_t bytes = 0;
    auto close = [&] {
      if (current.params.empty()) return;
      int64_t numel = 0;
      for (const auto& p : current.params) {
        current.offsets.push_back(numel);
        numel += p.numel();
      }
      current.flat = torch::zeros({numel}, current.params.front().options());
      current.io = {current.flat};
      current.seen.assign(current.params.size(), 0);
      current.pending = static_cast<int64_t>(current.params.size());
      buckets.push_back(std::move(current));
      current = Bucket();
      bytes = 0;
    };
    for (auto& p : params) {
      if (!p.requires_grad()) continue;
      if (!current.params.empty() &&
          (p.scalar_type() != current.params.front().scalar_type() ||
           p.device() != current.params.front().device() || bytes >= bucket_bytes)) {
        close();
      }
      current.params.push_back(p);
      bytes += p.numel() * static_cast<int64_t>(p.element_size());
    }
    close();
  }

  torch::Tensor slot(Bucket& b, size_t k) {
    const auto& p = b.params[k];
    return b.flat.narrow(0, b.offsets[k], p.numel()).view(p.sizes());
  }

  // Starts the all-reduce of complete buckets, strictly in bucket order, so every rank
  // issues the same collectives in the same order.
  void launch_ready() {
    while (next_launch < buckets.size() && buckets[next_launch].pending == 0) {
      auto& b = buckets[next_launch];
      b.work = allreduce(b.io, "gradient all-reduce");
      ++next_launch;
    }
  }

  void on_gradient(size_t bucket, size_t k, const torch::Tensor& grad) {
    std::lock_guard<std::mutex> lock(mutex);
    auto& b = buckets[bucket];
    if (b.seen[k]++ > 0) {
      throw std::logic_error(
          "distributed: a parameter received two gradients in one backward pass (used twice "
          "in the forward pass), which the bucketed all-reduce does not support");
    }
    slot(b, k).copy_(grad);
    if (--b.pending == 0) launch_ready();
  }

  // After backward: buckets whose parameters got no gradient are completed from .grad
  // (or zeros), every all-reduce is awaited, and the averages replace the gradients.
  // Returns whether every rank's loss was finite: one more all-reduce, of a count of
  // non-finite losses, issued after the buckets so that every rank (the one whose loss
  // is NaN too) sees the same answer at the same step.
  bool finish_gradients(double loss) {
    const auto started = std::chrono::steady_clock::now();
    torch::NoGradGuard no_grad;
    {
      std::lock_guard<std::mutex> lock(mutex);
      for (auto& b : buckets) {
        if (b.pending == 0) continue;
        for (size_t k = 0; k < b.params.size(); ++k) {
          if (b.seen[k] > 0) continue;
          const auto& g = b.params[k].grad();
          if (g.defined()) {
            slot(b, k).copy_(g);
          } else {
            slot(b, k).zero_();
          }
          b.seen[k] = 1;
        }
        b.pending = 0;
      }
      launch_ready();
    }
    std::vector<torch::Tensor> bad{
        torch::full({1}, std::isfinite(loss) ? 0.0 : 1.0, torch::kFloat64).to(comm_device)};
    const WorkPtr bad_work = allreduce(bad, "loss check all-reduce");
    const double scale = 1.0 / static_cast<double>(env.world_size);
    for (auto& b : buckets) {
      wait(b.work, "gradient all-reduce");
      b.work.reset();
      b.flat.mul_(scale);
      for (size_t k = 0; k < b.params.size(); ++k) {
        auto& p = b.params[k];
        auto averaged = slot(b, k);
        if (p.grad().defined()) {
          p.mutable_grad().copy_(averaged);
        } else {
          p.mutable_grad() = averaged.clone();
        }
        b.seen[k] = 0;
      }
      b.pending = static_cast<int64_t>(b.params.size());
    }
    next_launch = 0;
    wait(bad_work, "loss check all-reduce");
    sync_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return bad[0].to(torch::kCPU).item<double>() == 0.0;
  }
};

Distributed::Distributed(const LaunchEnv& env, const DistributedOptions& options, bool cuda)
    : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  if (!env.distributed()) throw std::logic_error("Distributed needs WORLD_SIZE > 1");
  m.env = env;
  m.options = options;
  m.timeout = std::chrono::milliseconds(static_cast<int64_t>(options.timeout_s * 1000));
#ifdef USE_C10D_NCCL
  m.backend = cuda ? "nccl" : "gloo";
#else
  (void)cuda;
  m.backend = "gloo";
#endif
  const std::string rendezvous = env.master_addr + ":" + std::to_string(env.master_port);
  try {
    m.store = connect_store(env, m.timeout);
  } catch (const std::exception& e) {
    throw std::runtime_error(
        "distributed rendezvous at " + rendezvous + " failed on " + where(env) + " within " +
        std::to_string(static_cast<int64_t>(options.timeout_s)) +
        (env.agent_store ? " s (joining the store of torchrun's agent, "
                           "TORCHELASTIC_USE_AGENT_STORE=True): "
                         : " s (are all WORLD_SIZE ranks started, with the same MASTER_ADDR "
                           "and MASTER_PORT?): ") +
        e.what());
  }
  try {
#ifdef USE_C10D_NCCL
    if (m.backend == "nccl") {
      // Blocking waits, so that a dead or hung rank surfaces as an error after the timeout.
      ::setenv("TORCH_NCCL_BLOCKING_WAIT", "1", 0);
      ::setenv("NCCL_BLOCKING_WAIT", "1", 0);
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = m.timeout;
      m.group = c10::make_intrusive<c10d::ProcessGroupNCCL>(m.store, static_cast<int>(env.rank),
                                                            static_cast<int>(env.world_size), o);
      m.comm_device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
    }
#endif
#ifdef SLUICE_HAVE_GLOO
    if (!m.group) {
      auto o = c10d::ProcessGroupGloo::Options::create(m.timeout);
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      o->devices.push_back(ifname != nullptr && *ifname != '\0'
                               ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                               : c10d::ProcessGroupGloo::createDefaultDevice());
      m.group = c10::make_intrusive<c10d::ProcessGroupGloo>(m.store, static_cast<int>(env.rank),
                                                            static_cast<int>(env.world_size), o);
    }
#endif
    if (!m.group) {
      throw std::runtime_error("this build of sluice has no " + m.backend +
                               " backend (LibTorch was found without its headers)");
    }
  } catch (const std::exception& e) {
    throw std::runtime_error("distributed rendezvous (the " + m.backend + " process group at " +
                             rendezvous + ") failed on " + where(env) + " within " +
                             std::to_string(static_cast<int64_t>(options.timeout_s)) +
                             " s (are all WORLD_SIZE ranks started and reachable?): " + e.what());
  }
}

Distributed::~Distributed() { detach(); }

int64_t Distributed::rank() const { return impl_->env.rank; }
int64_t Distributed::world_size() const { return impl_->env.world_size; }
const std::string& Distributed::backend() const { return impl_->backend; }

bool Distributed::has_backend(const std::string& name) {
#ifdef SLUICE_HAVE_GLOO
  if (name == "gloo") return true;
#endif
#ifdef USE_C10D_NCCL
  if (name == "nccl") return true;
#endif
  return false;
}
const DistributedOptions& Distributed::options() const { return impl_->options; }
double Distributed::gradient_sync_seconds() const { return impl_->sync_seconds; }
int64_t Distributed::verified_steps() const { return impl_->verified; }

void Distributed::assign_local_device(TrainerConfig& config, const LaunchEnv& env) {
  if (!env.distributed()) return;
  if ((config.device == "auto" || config.device == "cuda") && torch::cuda::is_available()) {
    config.device = "cuda:" + std::to_string(env.local_rank);
  }
}

void Distributed::broadcast_model(Trainer& trainer) {
  auto& model = trainer.model();
  for (auto& p : model.parameters()) impl_->broadcast(p, "broadcast of the initial weights");
  for (auto& b : model.buffers()) impl_->broadcast(b, "broadcast of the initial buffers");
}

void Distributed::attach(Trainer& trainer) {
  auto& m = *impl_;
  detach();
  m.trainer = &trainer;
  m.build_buckets(trainer.model());
  for (size_t b = 0; b < m.buckets.size(); ++b) {
    for (size_t k = 0; k < m.buckets[b].params.size(); ++k) {
      auto& p = m.buckets[b].params[k];
      Impl* impl = &m;
      const unsigned handle = p.register_hook(
          [impl, b, k](const torch::Tensor& grad) { impl->on_gradient(b, k, grad); });
      m.hooks.push_back({p, handle});
    }
  }
  trainer.set_gradient_hook([impl = &m](double loss) { return impl->finish_gradients(loss); });
}

void Distributed::detach() {
  auto& m = *impl_;
  for (auto& h : m.hooks) h.param.remove_hook(h.handle);
  m.hooks.clear();
  m.buckets.clear();
  m.next_launch = 0;
  if (m.trainer != nullptr) m.trainer->set_gradient_hook({});
  m.trainer = nullptr;
}

void Distributed::sum(std::vector<double>& values) {
  if (values.empty()) return;
  auto& m = *impl_;
  auto t = torch::from_blob(values.data(), {static_cast<int64_t>(values.size())}, torch::kFloat64)
               .to(m.comm_device, /*non_blocking=*/false, /*copy=*/true);
  std::vector<torch::Tensor> io{t};
  m.wait(m.allreduce(io, "metric all-reduce"), "metric all-reduce");
  auto host = t.to(torch::kCPU).contiguous();
  std::copy(host.data_ptr<double>(), host.data_ptr<double>() + host.numel(), values.begin());
}

std::vector<float> Distributed::all_gather_rows(const std::vector<float>& local,
                                                int64_t row_width) {
  auto& m = *impl_;
  const int64_t world = m.env.world_size;
  std::vector<double> rows(static_cast<size_t>(world), 0.0);
  rows[static_cast<size_t>(m.env.rank)] = static_cast<double>(local.size()) / row_width;
  sum(rows);
  const auto most = static_cast<int64_t>(*std::max_element(rows.begin(), rows.end()));
  auto input = torch::zeros({std::max<int64_t>(most, 1) * row_width}, torch::kFloat32);
  std::copy(local.begin(), local.end(), input.data_ptr<float>());
  input = input.to(m.comm_device);
  std::vector<torch::Tensor> inputs{input};
  std::vector<std::vector<torch::Tensor>> outputs(1);
  for (int64_t r = 0; r < world; ++r) outputs[0].push_back(torch::empty_like(input));
  WorkPtr work;
  try {
    work = m.group->allgather(outputs, inputs);
  } catch (const std::exception& e) {
    throw std::runtime_error(m.context("validation all-gather") + e.what());
  }
  m.wait(work, "validation all-gather");
  std::vector<float> all;
  for (int64_t r = 0; r < world; ++r) {
    auto host = outputs[0][static_cast<size_t>(r)].to(torch::kCPU).contiguous();
    const auto n = static_cast<int64_t>(rows[static_cast<size_t>(r)]) * row_width;
    all.insert(all.end(), host.data_ptr<float>(), host.data_ptr<float>() + n);
  }
  return all;
}

bool Distributed::broadcast_flag(bool flag) {
  auto t = torch::full({1}, flag ? 1.0 : 0.0, torch::kFloat64).to(impl_->comm_device);
  impl_->broadcast(t, "decision broadcast");
  return t.to(torch::kCPU).item<double>() != 0.0;
}

void Distributed::verify_parameters(Trainer& trainer, int64_t step) {
  torch::NoGradGuard no_grad;
  auto named = trainer.model().named_parameters();
  std::vector<torch::Tensor> flat;
  for (const auto& item : named)
    flat.push_back(item.second.detach().reshape({-1}).to(torch::kFloat));
  auto local = torch::cat(flat);
  auto root = local.clone();
  impl_->broadcast(root, "parameter check");
  if (!torch::equal(local, root)) {
    int64_t offset = 0;
    std::string first = "?";
    for (const auto& item : named) {
      const int64_t n = item.second.numel();
      if (!torch::equal(local.narrow(0, offset, n), root.narrow(0, offset, n))) {
        first = item.first;
        break;
      }
      offset += n;
    }
    throw std::runtime_error("distributed check: after step " + std::to_string(step) + " on " +
                             where(impl_->env) + " parameter '" + first +
                             "' differs from rank 0's");
  }
  ++impl_->verified;
}

void Distributed::barrier() {
  WorkPtr work;
  try {
    work = impl_->group->barrier();
  } catch (const std::exception& e) {
    throw std::runtime_error(impl_->context("barrier") + e.what());
  }
  impl_->wait(work, "barrier");
}

}  // namespace sluice::train
