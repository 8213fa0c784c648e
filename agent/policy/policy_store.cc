#include "agent/policy/policy_store.h"

namespace ferry::policy {

PolicyStore::PolicyStore() : current_(std::make_shared<const PolicyEvaluator>(v1::PolicySnapshot())) {}

uint64_t PolicyStore::Apply(v1::PolicySnapshot snapshot) {
  std::lock_guard<std::mutex> lock(apply_mu_);
  if (snapshot.version() == 0) snapshot.set_version(Current()->version() + 1);
  const uint64_t version = snapshot.version();
  // Index construction happens before the swap: readers keep the old policy meanwhile.
  auto next = std::make_shared<const PolicyEvaluator>(std::move(snapshot));
  current_.store(std::move(next), std::memory_order_release);
  return version;
}

}  // namespace ferry::policy
