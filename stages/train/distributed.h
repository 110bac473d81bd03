// Data-parallel training on PyTorch's c10d: one process per device, launched the way
// torchrun launches (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT; see
// stages/data/launch_env.h). Rank 0 hosts the c10d TCPStore for the rendezvous; the
// process group is NCCL for CUDA models when LibTorch has it (USE_C10D_NCCL), else
// Gloo. Every collective runs under a timeout (SLUICE_DIST_TIMEOUT_S, default 300 s),
// so a rank that died or hangs makes the others fail with an error naming it.
//
// Gradients are averaged with bucketed all-reduce (buckets of SLUICE_DIST_BUCKET_MB,
// default 25, in reverse parameter order): autograd hooks copy each gradient into its
// bucket as the backward pass produces it and start the bucket's all-reduce as soon as
// the bucket is complete, so communication overlaps the rest of the backward pass.
// This header has no Torch includes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "stages/data/launch_env.h"

namespace sluice::train {

class Trainer;
struct TrainerConfig;

struct DistributedOptions {
  double timeout_s = 300.0;  // rendezvous and every collective
  double bucket_mb = 25.0;   // gradient bucket size
  bool check = false;        // verify bitwise-identical parameters after every step

  // SLUICE_DIST_TIMEOUT_S, SLUICE_DIST_BUCKET_MB, SLUICE_DIST_CHECK=1.
  static DistributedOptions from_environment();
};

class Distributed {
 public:
  // Joins the job described by `env` (which must be distributed()): rendezvous through
  // the TCPStore at MASTER_ADDR:MASTER_PORT, then the process group. `cuda` picks NCCL
  // when available. Throws std::runtime_error naming the rank, address and timeout.
  Distributed(const LaunchEnv& env, const DistributedOptions& options, bool cuda);
  ~Distributed();
  Distributed(const Distributed&) = delete;
  Distributed& operator=(const Distributed&) = delete;

  int64_t rank() const;
  int64_t world_size() const;
  bool is_root() const { return rank() == 0; }
  const std::string& backend() const;
  const DistributedOptions& options() const;

  // Whether this build has the process-group backend `name` ("gloo", "nccl"). A LibTorch
  // without the gloo headers (pip wheels) gives a build without Gloo, hence no CPU runs.
  static bool has_backend(const std::string& name);

  // "auto" or "cuda" -> "cuda:LOCAL_RANK" when CUDA is available (one device per rank).
  static void assign_local_device(TrainerConfig& config, const LaunchEnv& env);

  // Rank 0's parameters and buffers to every rank (after construction, weights, resume).
  void broadcast_model(Trainer& trainer);
  // Installs the gradient averaging in `trainer` (autograd hooks + the trainer's
  // gradient hook). The trainer must outlive this object or be detached first.
  void attach(Trainer& trainer);
  void detach();

  // Element-wise sum over ranks, in place (float64).
  void sum(std::vector<double>& values);
  // Every rank's `local` (row-major rows of `row_width` floats), concatenated in rank
  // order, on every rank.
  std::vector<float> all_gather_rows(const std::vector<float>& local, int64_t row_width);
  // Rank 0's value of `flag` on every rank.
  bool broadcast_flag(bool flag);
  // Throws std::runtime_error when a parameter differs bitwise from rank 0's.
  void verify_parameters(Trainer& trainer, int64_t step);
  int64_t verified_steps() const;
  // Waits for every rank.
  void barrier();

  // Seconds spent in gradient communication (copies and waits after backward) so far.
  double gradient_sync_seconds() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::train
