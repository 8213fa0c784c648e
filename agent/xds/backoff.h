// Exponential backoff with jitter for reconnecting to the controller: after a controller
// restart, hundreds of agents must not all reconnect in the same millisecond.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace ferry::xds {

class JitteredBackoff {
 public:
  JitteredBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, uint64_t seed);

  // The next delay: the exponential step capped at `max`, drawn uniformly from [step/2, step].
  std::chrono::milliseconds Next();
  // After a successful connection: start again from `initial`.
  void Reset() { attempt_ = 0; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  unsigned attempt_ = 0;
  std::mt19937_64 random_;
};

}  // namespace ferry::xds
