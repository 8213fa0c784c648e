// TrafficSplit backend selection, per request (HTTP) or per connection (TCP).
//
// Pick() is a smooth weighted round-robin (the scheme nginx uses for upstream weights): each pick
// adds every backend's weight to its running credit, takes the backend with the most credit and
// charges it the total weight. It is exact and evenly interleaved: over any window of
// (sum of weights / gcd) consecutive picks every backend is chosen exactly weight/gcd times, so
// with 90/10 "refresh ten times" shows the canary exactly once, never twice in a row then not for
// twenty. A random pick only matches the shares on average, which is confusing in a demo and in
// tests; PickRandom() is offered for callers that want no shared state between workers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "ferry/v1/policy.pb.h"

namespace ferry::http {

struct SplitBackend {
  std::string service;
  std::uint32_t weight = 0;  // relative; any scale; 0 = never picked
};

// Injectable randomness for PickRandom (tests use a seeded generator).
class UniformRandom {
 public:
  virtual ~UniformRandom() = default;
  // A uniformly distributed value in [0, bound); bound > 0.
  virtual std::uint64_t Below(std::uint64_t bound) = 0;
};

class SplitPicker {
 public:
  // Fails when there is no backend or all weights are 0 (the split would have nowhere to go).
  static Result<SplitPicker> Create(std::vector<SplitBackend> backends);
  static Result<SplitPicker> FromProto(const ferry::v1::TrafficSplit& split);

  // Index into backends() of the next backend (smooth weighted round-robin).
  std::size_t Pick();
  // Independent weighted random pick; keeps no state.
  std::size_t PickRandom(UniformRandom& random) const;

  // Applies new weights without dropping state needlessly: identical weights (a policy snapshot
  // that changed something else) keep the round-robin position; changed weights restart it from
  // zero credit. Restarting cannot burst: the first picks after it follow the new weights
  // exactly, and a backend loses at most the one turn it had partly earned. Carrying old credit
  // over instead could let a backend whose weight was cut keep winning on credit it earned before.
  Result<void> SetWeights(std::vector<SplitBackend> backends);

  const std::vector<SplitBackend>& backends() const { return backends_; }

 private:
  explicit SplitPicker(std::vector<SplitBackend> backends);

  std::vector<SplitBackend> backends_;
  std::vector<std::int64_t> credit_;
  std::int64_t total_ = 0;
};

}  // namespace ferry::http
