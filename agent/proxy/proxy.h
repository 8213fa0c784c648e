// The agent's TCP relay: one io_uring event loop per worker thread, bytes copied through
// provided-buffer rings (see docs/PERFORMANCE.md, "Data movement in the proxy").
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "agent/proxy/proxy_types.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace ferry::proxy {

class Worker;
struct SharedState;

class Proxy {
 public:
  // Fails with a clear error when io_uring (or provided-buffer rings, 5.19+) is unavailable.
  // `handler` must outlive the Proxy.
  static Result<std::unique_ptr<Proxy>> Create(const ProxyOptions& options,
                                               ConnectionHandler* handler);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // Takes a bound, listening TCP socket and accepts on it (multishot) on one worker; listeners
  // are spread over workers round-robin. Returns the listener id passed to OnAccept.
  Result<uint64_t> AddListener(UniqueFd listening_socket);
  // Stops accepting on the listener and closes it; live connections are not affected.
  void RemoveListener(uint64_t listener_id);

  // Resets (RST on both legs) every live connection whose info matches; returns how many.
  // Thread-safe; runs the predicate on each worker thread and waits until all have run it.
  // AbortConnectionsWhere, ListConnections and Stop wait for the workers: never call them from
  // a ConnectionHandler callback (that runs on a worker).
  size_t AbortConnectionsWhere(std::function<bool(const ConnectionInfo&)> should_abort);
  // Snapshot of live connections, for the debug endpoint.
  std::vector<LiveConnection> ListConnections();
  ProxyStats Stats() const;

  // Resets every live connection, closes listeners and joins the workers. Idempotent.
  void Stop();

  size_t worker_count() const { return workers_.size(); }

 private:
  Proxy() = default;

  std::shared_ptr<SharedState> shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::mutex mutex_;  // guards the fields below
  std::map<uint64_t, Worker*> listener_owner_;
  uint64_t next_listener_id_ = 1;
  size_t next_worker_ = 0;
  bool stopped_ = false;
};

}  // namespace ferry::proxy
