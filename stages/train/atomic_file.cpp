#include "stages/train/atomic_file.h"

#include "pipeline/atomic_file.h"

namespace sluice::train {

// The one implementation lives in pipeline/atomic_file.cpp (shared with the data
// stages, which have no Torch); this name stays for the train family's callers.
void write_file_atomically(const std::string& path, std::string_view data,
                           const AtomicWriteHook& hook) {
  sluice::write_file_atomically(path, data, hook);
}

}  // namespace sluice::train
