// Per-worker counters: written only by the worker thread, read by Proxy::Stats() from any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "agent/proxy/proxy_types.h"

namespace ferry::proxy {

class Counter {
 public:
  void Add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  void Sub(uint64_t n) { value_.fetch_sub(n, std::memory_order_relaxed); }
  uint64_t Get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

struct WorkerCounters {
  Counter accepted, denied, refused_over_limit, completed, resets, connect_failures,
      connect_timeouts, idle_timeouts, half_close_timeouts, aborted, enobufs, buffered_bytes,
      buffers_in_use, setups_failed, setups_refused_over_limit, legs_ktls, legs_userspace, legs_resumed;
  Counter bytes[2];  // indexed by direction: 0 = client -> upstream, 1 = upstream -> client

  // Adds this worker's counters into `stats` (active and setups_active are proxy-wide, not here).
  void AddTo(ProxyStats& stats) const {
    stats.accepted += accepted.Get();
    stats.denied += denied.Get();
    stats.refused_over_limit += refused_over_limit.Get();
    stats.completed += completed.Get();
    stats.resets += resets.Get();
    stats.connect_failures += connect_failures.Get();
    stats.connect_timeouts += connect_timeouts.Get();
    stats.idle_timeouts += idle_timeouts.Get();
    stats.half_close_timeouts += half_close_timeouts.Get();
    stats.aborted += aborted.Get();
    stats.enobufs += enobufs.Get();
    stats.buffered_bytes += buffered_bytes.Get();
    stats.buffers_in_use += buffers_in_use.Get();
    stats.setups_failed += setups_failed.Get();
    stats.setups_refused_over_limit += setups_refused_over_limit.Get();
    stats.legs_ktls += legs_ktls.Get();
    stats.legs_userspace += legs_userspace.Get();
    stats.legs_resumed += legs_resumed.Get();
    stats.bytes_client_to_upstream += bytes[0].Get();
    stats.bytes_upstream_to_client += bytes[1].Get();
  }
};

}  // namespace ferry::proxy
