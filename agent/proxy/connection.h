// One relayed connection: the client socket, the upstream socket and the two byte streams
// between them. Driven by its worker's completions; it only queues io_uring requests.
// Optionally one socket carries a SecureLeg (connection_leg.cc): its setup runs before the relay,
// and in user-space mode the bytes of both directions pass through it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "agent/proxy/buffer_ring.h"
#include "agent/proxy/io_ring.h"
#include "agent/proxy/proxy_types.h"
#include "agent/proxy/relay.h"
#include "agent/proxy/secure_leg.h"
#include "agent/proxy/shared_state.h"
#include "agent/proxy/user_data.h"
#include "agent/proxy/worker_counters.h"
#include "common/unique_fd.h"

namespace ferry::proxy {

class Connection final : public Relay {
 public:
  static constexpr size_t kMaxChunksPerDirection = kMaxBuffersPerDirection;

  // Relays to plan.upstream; with plan.upstream_leg, the engine initiates that leg after the
  // connect. A connection with a leg holds one of SharedState's setup slots until its data phase.
  Connection(uint64_t id, UniqueFd client, const AcceptedConnection& accepted, ForwardPlan plan,
             Clock::time_point now);
  // The client socket is the acceptor side of plan.leg; the upstream comes from OnLegRequest.
  Connection(uint64_t id, UniqueFd client, const AcceptedConnection& accepted, AcceptLegPlan plan,
             Clock::time_point now);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Queues the upstream connect with its linked timeout.
  void StartConnect(RelayContext& ctx);
  // Acceptor: starts the leg's setup on the client socket.
  void StartAcceptor(RelayContext& ctx, Clock::time_point now);
  // Handles one completion addressed to this connection.
  void OnCompletion(RelayContext& ctx, Op op, int res, uint32_t flags, Clock::time_point now) override;
  // Closes on idle / half-close timeout.
  void CheckTimeouts(RelayContext& ctx, Clock::time_point now) override;
  // Re-queues a receive that found the buffer ring empty.
  void RetryReceive(RelayContext& ctx, int direction) override;
  // Starts closing: cancels outstanding requests. Reset reasons (and any close that would drop
  // buffered bytes) send RST on both legs.
  void BeginClose(RelayContext& ctx, CloseReason reason) override;

  // True once closing and no request is outstanding: the worker may call Release().
  bool finished() const override { return closing_ && inflight_ == 0; }
  // Returns held buffers and closes both sockets.
  ConnectionStats Release(RelayContext& ctx, Clock::time_point now) override;

  uint64_t id() const { return id_; }
  const ConnectionInfo& info() const override { return *info_; }
  bool closing() const override { return closing_; }
  LiveConnection Snapshot(Clock::time_point now) const override;

 private:
  struct Chunk {
    uint16_t buffer_id;
    uint32_t offset;
    uint32_t length;
  };
  // Heap bytes waiting for a destination (leg output, plaintext, early data). `sending` is what
  // a send in flight points into, so it never grows while one is pending; new bytes go to
  // `queued`, which takes over once `sending` is done. Both buffers come from, and once the
  // spill drains go back to, the worker's small pool (RelayContext::spill_pool): a busy
  // connection reuses them record after record, an idle one holds no spill memory at all.
  struct Spill {
    std::vector<uint8_t> sending;
    size_t offset = 0;  // bytes of `sending` already sent
    std::vector<uint8_t> queued;
    size_t size() const { return sending.size() - offset + queued.size(); }
    bool empty() const { return offset == sending.size() && queued.empty(); }
    std::span<const uint8_t> Next();
    // `queued`, given a pooled buffer's capacity when it has none: append new bytes here.
    std::vector<uint8_t>& Queue(SpillBufferPool& pool);
    // Both buffers back to the pool, dropping whatever is left: once drained (no send points
    // into an empty spill), or when the connection is released.
    void Release(SpillBufferPool& pool);
  };
  // What a user-space leg does to a direction's received bytes.
  enum class Transform : uint8_t { kNone, kUnprotect, kProtect };
  // Where a connection with a leg is in its life. Plain connections stay in kRelay.
  enum class Phase : uint8_t {
    kRelay,         // relaying (plain, or a leg in its data phase)
    kSetup,         // leg setup: receiving on the leg socket (initiator: once connected)
    kAwaitUpstream, // acceptor: connecting the upstream OnLegRequest chose
    kFlush,         // leg is kReady: sending the last setup bytes, then the data phase
    kFailing,       // leg failed: sending its last bytes (an alert), then reset
    kRefusing,      // acceptor refused: send the response, shut down, drain, close
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
    bool sending_spill = false;  // the send in flight is from `spill`, not a chunk
    Transform transform = Transform::kNone;
    uint64_t bytes = 0;      // delivered to the destination
    Spill spill;             // sent after the chunks; a chunk is received only when it is empty
    Chunk& front() { return chunks[head]; }
  };

  // A failure reading from or writing to socket `side` (0 client, 1 upstream) is that side's reset.
  static CloseReason ResetBy(int side) {
    return side == 0 ? CloseReason::kClientReset : CloseReason::kUpstreamReset;
  }
  void OnConnect(RelayContext& ctx, int res, Clock::time_point now);
  void OnRecv(RelayContext& ctx, int direction, int res, uint32_t flags, Clock::time_point now);
  void OnSend(RelayContext& ctx, int direction, int res, Clock::time_point now);
  void MaybeReceive(RelayContext& ctx, int direction);
  void SendFront(RelayContext& ctx, int direction);
  // Sends the next chunk, else the spill, unless a send is already in flight.
  void SendNext(RelayContext& ctx, int direction);
  void MaybeShutdown(RelayContext& ctx, int direction, Clock::time_point now);
  void WaitForBuffer(RelayContext& ctx, int direction);
  void SendSpill(RelayContext& ctx, int direction);
  void OnSpillSent(RelayContext& ctx, int direction, uint32_t sent);
  void CloseWith(RelayContext& ctx, CloseReason reason, bool reset);
  uint64_t BufferedBytes() const;
  uint64_t UserData(Op op) const { return PackUserData(op, id_); }

  // ---- the leg (connection_leg.cc) ----
  bool LegAllowsReceive(int direction) const;
  void AppendSpill(RelayContext& ctx, int direction, std::span<const uint8_t> bytes);
  void OnLegConnect(RelayContext& ctx, int res, Clock::time_point now);
  void OnLegRecv(RelayContext& ctx, int direction, int res, std::span<const uint8_t> data,
                 Clock::time_point now);
  void OnSetupRecv(RelayContext& ctx, int res, std::span<const uint8_t> data, Clock::time_point now);
  void HandleProgress(RelayContext& ctx, const LegProgress& progress, std::vector<uint8_t>& out,
                      Clock::time_point now);
  void Decide(RelayContext& ctx, Clock::time_point now);
  void Refuse(RelayContext& ctx, LegRefusal refusal, std::string_view reason, Clock::time_point now);
  void OnLegOutputFlushed(RelayContext& ctx, Clock::time_point now);
  void EnterDataPhase(RelayContext& ctx, Clock::time_point now);
  void OnTransformRecv(RelayContext& ctx, int direction, std::span<const uint8_t> data,
                       Clock::time_point now);
  void OnKernelRecord(RelayContext& ctx, int direction, Clock::time_point now);
  // Before the leg socket's write side is shut: close_notify. False when the caller must wait
  // for the queued close_notify to be sent (or the connection closed).
  bool FinishLeg(RelayContext& ctx);
  void CheckLegTimeouts(RelayContext& ctx, Clock::time_point now);
  void ReleaseSetupSlot(RelayContext& ctx);
  void ResetForLegFailure(RelayContext& ctx, CloseReason reason, std::string_view why);
  int LegSocket() const { return socket_[leg_side_].get(); }
  // The direction whose destination is the leg socket.
  int IntoLeg() const { return 1 - leg_side_; }

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
  // The leg, when there is one: on socket_[leg_side_] (0 acceptor, 1 initiator).
  std::unique_ptr<SecureLeg> leg_;
  int leg_side_ = -1;
  Phase phase_ = Phase::kRelay;
  bool holds_setup_slot_ = false;
  bool leg_finished_ = false;  // Finish() was called: nothing more may be sent on the leg
  AcceptedConnection accepted_;  // for OnLegRequest
  Clock::time_point setup_started_{};  // set when the leg's setup begins
  Clock::time_point refused_at_{};
  CloseReason reason_ = CloseReason::kCompleted;
  unsigned inflight_ = 0;  // requests queued for this connection whose completion is pending
};

}  // namespace ferry::proxy
