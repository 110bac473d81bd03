// The options of a run that every front end takes -- the CLI's --threads and
// --max-in-flight, the Python module's threads=, max_in_flight=, rank= and
// world_size= -- as ParamSpecs, so that each front end checks them with the same
// ranges and says so in the same words (check_param_value, pipeline/validate.h).
//
//   const std::string why = check_param_value(threads_option_spec(), int64_t{1'000'000});
//   // "must be in [0, 4096], got 1000000"
#pragma once

#include <cstdint>
#include <string>

#include "pipeline/params.h"

namespace sluice {

inline ParamSpec threads_option_spec() {
  return ParamSpec::integer("threads", 0, "worker threads (0: all cores)").range(0, 4096);
}

inline ParamSpec max_in_flight_option_spec() {
  return ParamSpec::integer("max-in-flight", 0, "items in flight per source").range(0, 1 << 20);
}

// max_in_flight = 1 passes the range but cannot run: the source holds its next
// item while the limiter admits the others. "" when `value` is fine.
inline std::string max_in_flight_problem(int64_t value) {
  if (value != 1) return {};
  return "must be 0 (the default) or at least 2, got 1";
}

// A process's shard of the index sources (as their shard_rank / shard_count).
inline ParamSpec rank_option_spec() {
  return ParamSpec::integer("rank", 0, "this process's shard").min(0);
}
inline ParamSpec world_size_option_spec() {
  return ParamSpec::integer("world_size", 1, "number of shards").range(1, 65536);
}

}  // namespace sluice
