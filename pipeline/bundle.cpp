#include "pipeline/bundle.h"
#include "pipeline/node_bodies.h"

#include <memory>

namespace sluice::detail {

BundlePool* create_thread_pool() {
  static thread_local std::unique_ptr<BundlePool> owner;
  owner = std::make_unique<BundlePool>();
  return owner.get();
}

std::vector<Packet>* create_thread_scratch() {
  static thread_local std::unique_ptr<std::vector<Packet>> owner;
  owner = std::make_unique<std::vector<Packet>>();
  return owner.get();
}

}  // namespace sluice::detail
