// What a worker drives: one relayed connection of either kind (Connection: bytes between two
// sockets, possibly through a SecureLeg; L7Connection: an application-protocol session choosing an
// upstream per request), and the worker services they use.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "agent/proxy/buffer_ring.h"
#include "agent/proxy/io_ring.h"
#include "agent/proxy/proxy_types.h"
#include "agent/proxy/shared_state.h"
#include "agent/proxy/spill_pool.h"
#include "agent/proxy/user_data.h"
#include "agent/proxy/worker_counters.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace ferry::proxy {

using Clock = std::chrono::steady_clock;

// Starts a relay of the same worker behind one end of a socketpair and returns the other end,
// already connected: how an L7 connection reaches its upstreams and how an acceptor leg hands its
// plaintext to an L7 session. `origin` is the connection that asks (its endpoints and listener).
class Spawner {
 public:
  virtual ~Spawner() = default;
  virtual Result<UniqueFd> SpawnInternal(Decision decision, const AcceptedConnection& origin) = 0;
};

// What a relay needs from the worker that owns it.
struct RelayContext {
  IoRing& ring;
  BufferRing& buffers;
  const ProxyOptions& options;
  WorkerCounters& counters;
  // (connection id, direction) pairs whose receive found the buffer ring empty.
  std::deque<std::pair<uint64_t, int>>& buffer_waiters;
  SharedState& shared;
  ConnectionHandler& handler;
  // Per-worker buffer for SecureLeg::ReadKernelRecord; sized on first use.
  std::vector<uint8_t>& record_scratch;
  SpillBufferPool& spill_pool;
  Spawner& spawner;
};

class Relay {
 public:
  virtual ~Relay() = default;
  // Handles one completion addressed to this relay.
  virtual void OnCompletion(RelayContext& ctx, Op op, int res, uint32_t flags, Clock::time_point now) = 0;
  // Closes on idle / half-close / setup timeouts.
  virtual void CheckTimeouts(RelayContext& ctx, Clock::time_point now) = 0;
  // Re-queues a receive that found the buffer ring empty.
  virtual void RetryReceive(RelayContext& ctx, int direction) = 0;
  // Starts closing: cancels outstanding requests.
  virtual void BeginClose(RelayContext& ctx, CloseReason reason) = 0;
  // True once closing and no request is outstanding: the worker may call Release().
  virtual bool finished() const = 0;
  // Returns held buffers and closes every socket.
  virtual ConnectionStats Release(RelayContext& ctx, Clock::time_point now) = 0;
  virtual const ConnectionInfo& info() const = 0;
  virtual bool closing() const = 0;
  virtual LiveConnection Snapshot(Clock::time_point now) const = 0;
};

}  // namespace ferry::proxy
