#include "agent/xds/backoff.h"

#include <algorithm>

namespace ferry::xds {

JitteredBackoff::JitteredBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, uint64_t seed)
    : initial_(std::max(initial, std::chrono::milliseconds(1))), max_(std::max(max, initial_)), random_(seed) {}

std::chrono::milliseconds JitteredBackoff::Next() {
  // Doubling stops once the cap is reached, so the shift never overflows.
  int64_t step = initial_.count();
  for (unsigned i = 0; i < attempt_ && step < max_.count(); ++i) step *= 2;
  step = std::min(step, static_cast<int64_t>(max_.count()));
  ++attempt_;
  std::uniform_int_distribution<int64_t> jitter(step / 2, step);
  return std::chrono::milliseconds(jitter(random_));
}

}  // namespace ferry::xds
