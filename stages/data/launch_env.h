// The process's place in a distributed job, from the variables torchrun, Slurm
// wrappers and other launchers set: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT. Without WORLD_SIZE (or with WORLD_SIZE=1) the process runs alone.
// torchrun's agent may host the c10d store itself (its static rendezvous, e.g.
// --master_port): it then sets TORCHELASTIC_USE_AGENT_STORE=True, and every rank,
// rank 0 included, joins that store under the prefix of the agent's restart
// (TORCHELASTIC_RESTART_COUNT) instead of rank 0 hosting one.
// Header-only so the data stages (sharding) and the training stage share it.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace sluice {

struct LaunchEnv {
  int64_t rank = 0;
  int64_t world_size = 1;
  int64_t local_rank = 0;
  std::string master_addr;  // empty when single-process
  int64_t master_port = 0;
  bool agent_store = false;   // the store at MASTER_ADDR:MASTER_PORT is torchrun's agent's
  int64_t restart_count = 0;  // TORCHELASTIC_RESTART_COUNT: the agent's restarts so far

  bool distributed() const { return world_size > 1; }
};

namespace launch_env_detail {

inline bool read_int(const char* name, int64_t& out) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return false;
  char* end = nullptr;
  const long long parsed = std::strtoll(v, &end, 10);
  if (end == v || *end != '\0') {
    throw std::invalid_argument(std::string(name) + "='" + v + "' is not an integer");
  }
  out = parsed;
  return true;
}

}  // namespace launch_env_detail

// Reads and checks the variables; throws std::invalid_argument on inconsistent ones.
inline LaunchEnv launch_env_from_environment() {
  LaunchEnv e;
  using launch_env_detail::read_int;
  if (!read_int("WORLD_SIZE", e.world_size) || e.world_size <= 1) {
    if (e.world_size < 1) throw std::invalid_argument("WORLD_SIZE must be at least 1");
    return LaunchEnv{};
  }
  if (!read_int("RANK", e.rank)) {
    throw std::invalid_argument("WORLD_SIZE=" + std::to_string(e.world_size) +
                                " but RANK is not set");
  }
  if (e.rank < 0 || e.rank >= e.world_size) {
    throw std::invalid_argument("RANK=" + std::to_string(e.rank) +
                                " is outside [0, WORLD_SIZE=" + std::to_string(e.world_size) + ")");
  }
  if (!read_int("LOCAL_RANK", e.local_rank)) e.local_rank = 0;
  const char* addr = std::getenv("MASTER_ADDR");
  e.master_addr = addr != nullptr && *addr != '\0' ? addr : "127.0.0.1";
  if (!read_int("MASTER_PORT", e.master_port)) e.master_port = 29500;
  if (e.master_port <= 0 || e.master_port > 65535) {
    throw std::invalid_argument("MASTER_PORT=" + std::to_string(e.master_port) +
                                " is not a TCP port");
  }
  const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  e.agent_store = agent != nullptr && std::string(agent) == "True";  // Python's str(True)
  if (!read_int("TORCHELASTIC_RESTART_COUNT", e.restart_count)) e.restart_count = 0;
  return e;
}

}  // namespace sluice
