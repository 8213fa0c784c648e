// One relayed connection: the client socket, the upstream socket and the two byte streams
// between them. Driven by its worker's completions; it only queues io_uring requests.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <utility>

#include "agent/proxy/buffer_ring.h"
#include "agent/proxy/io_ring.h"
#include "agent/proxy/proxy_types.h"
#include "agent/proxy/user_data.h"
#include "agent/proxy/worker_counters.h"
#include "common/unique_fd.h"

namespace ferry::proxy {

using Clock = std::chrono::steady_clock;

// What a connection needs from the worker that owns it.
struct RelayContext {
  IoRing& ring;
  BufferRing& buffers;
  const ProxyOptions& options;
  WorkerCounters& counters;
  // (connection id, direction) pairs whose receive found the buffer ring empty.
  std::deque<std::pair<uint64_t, int>>& buffer_waiters;
};

class Connection {
 public:
  static constexpr size_t kMaxChunksPerDirection = kMaxBuffersPerDirection;

  Connection(uint64_t id, UniqueFd client, Ipv4Endpoint client_peer, ForwardPlan plan,
             Clock::time_point now);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Queues the upstream connect with its linked timeout.
  void StartConnect(RelayContext& ctx);
  // Handles one completion addressed to this connection.
  void OnCompletion(RelayContext& ctx, Op op, int res, uint32_t flags, Clock::time_point now);
  // Closes on idle / half-close timeout.
  void CheckTimeouts(RelayContext& ctx, Clock::time_point now);
  // Re-queues a receive that found the buffer ring empty.
  void RetryReceive(RelayContext& ctx, int direction);
  // Starts closing: cancels outstanding requests. Reset reasons (and any close that would drop
  // buffered bytes) send RST on both legs.
  void BeginClose(RelayContext& ctx, CloseReason reason);

  // True once closing and no request is outstanding: the worker may call Release().
  bool finished() const { return closing_ && inflight_ == 0; }
  // Returns held buffers and closes both sockets.
  ConnectionStats Release(RelayContext& ctx, Clock::time_point now);

  uint64_t id() const { return id_; }
  const ConnectionInfo& info() const { return *info_; }
  bool closing() const { return closing_; }
  LiveConnection Snapshot(Clock::time_point now) const;

 private:
  struct Chunk {
    uint16_t buffer_id;
    uint32_t offset;
    uint32_t length;
  };
  // Bytes flowing from socket_[d] to socket_[1 - d].
  struct Direction {
    std::array<Chunk, kMaxChunksPerDirection> chunks{};
    size_t head = 0;
    size_t count = 0;
    bool recv_pending = false;
    bool send_pending = false;
    bool waiting_for_buffer = false;
    bool destination_full = false;  // the last send was short: the destination is not reading
    bool eof = false;        // the source sent FIN
    bool write_shut = false;  // we sent FIN to the destination
    uint64_t bytes = 0;      // delivered to the destination
    Chunk& front() { return chunks[head]; }
  };

  void OnConnect(RelayContext& ctx, int res);
  void OnRecv(RelayContext& ctx, int direction, int res, uint32_t flags, Clock::time_point now);
  void OnSend(RelayContext& ctx, int direction, int res, Clock::time_point now);
  void MaybeReceive(RelayContext& ctx, int direction);
  void SendFront(RelayContext& ctx, int direction);
  void MaybeShutdown(RelayContext& ctx, int direction, Clock::time_point now);
  uint64_t BufferedBytes() const;
  uint64_t UserData(Op op) const { return PackUserData(op, id_); }

  uint64_t id_;
  std::array<UniqueFd, 2> socket_;  // [0] client, [1] upstream
  Ipv4Endpoint client_peer_;
  Ipv4Endpoint target_;
  sockaddr_in target_sockaddr_{};        // must outlive the connect submission
  __kernel_timespec connect_timeout_{};  // must outlive the link-timeout submission
  std::shared_ptr<const ConnectionInfo> info_;
  std::array<Direction, 2> dir_;
  Clock::time_point created_;
  Clock::time_point last_activity_;
  Clock::time_point first_eof_{};
  bool connecting_ = true;
  bool closing_ = false;
  CloseReason reason_ = CloseReason::kCompleted;
  unsigned inflight_ = 0;  // requests queued for this connection whose completion is pending
};

}  // namespace ferry::proxy
