// The agent's current policy. Readers on any thread take a shared_ptr to an immutable evaluator
// and keep using it for the whole decision, so they never see half of one policy and half of
// the next; Apply builds the new evaluator off to the side and swaps the pointer atomically.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "agent/policy/evaluator.h"
#include "ferry/v1/policy.pb.h"

namespace ferry::policy {

class PolicyStore {
 public:
  // Starts with an empty snapshot (version 0): everything is denied until a policy is applied.
  PolicyStore();
  PolicyStore(const PolicyStore&) = delete;
  PolicyStore& operator=(const PolicyStore&) = delete;

  // Installs `snapshot`. A snapshot with version 0 is numbered current + 1 (standalone mode);
  // otherwise its version (the controller's) is kept. Returns the installed version.
  uint64_t Apply(v1::PolicySnapshot snapshot);

  std::shared_ptr<const PolicyEvaluator> Current() const { return current_.load(std::memory_order_acquire); }

 private:
  std::mutex apply_mu_;  // serialises writers so version numbering is consistent
  std::atomic<std::shared_ptr<const PolicyEvaluator>> current_;
};

}  // namespace ferry::policy
