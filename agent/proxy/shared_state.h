// State shared by all workers of one Proxy: the proxy-wide connection and setup limits.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace ferry::proxy {

struct SharedState {
  size_t max_connections = 0;
  std::atomic<uint64_t> active{0};
  size_t max_setups = 0;
  std::atomic<uint64_t> setups{0};  // legs in setup now (a slot is taken before the leg starts)

  // Takes a setup slot; false (nothing taken) when max_setups are in use.
  bool TryTakeSetup() {
    if (setups.fetch_add(1) >= max_setups) {
      setups.fetch_sub(1);
      return false;
    }
    return true;
  }
  void ReleaseSetup() { setups.fetch_sub(1); }
};

}  // namespace ferry::proxy
