// A client connection read by an L7Session (HTTP): the session sees every byte and says where each
// request goes; this class owns the sockets and the io_uring requests. Upstreams are socketpair
// ends whose other side is an ordinary Connection of the same worker (Spawner), opened per key
// through the plan's UpstreamOpener and kept idle per key for the next request (a per-connection
// pool, so clients of different identities never share an upstream). After the session says
// become_stream, bytes pass both ways without it, with half-closes passed on.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/proxy/l7_session.h"
#include "agent/proxy/proxy_types.h"
#include "agent/proxy/relay.h"
#include "common/unique_fd.h"

namespace ferry::proxy {

class L7Connection final : public Relay {
 public:
  L7Connection(uint64_t id, UniqueFd client, const AcceptedConnection& accepted, L7Plan plan,
               Clock::time_point now);
  L7Connection(const L7Connection&) = delete;
  L7Connection& operator=(const L7Connection&) = delete;

  // Starts receiving from the client.
  void Start(RelayContext& ctx);

  void OnCompletion(RelayContext& ctx, Op op, int res, uint32_t flags, Clock::time_point now) override;
  void CheckTimeouts(RelayContext& ctx, Clock::time_point now) override;
  void RetryReceive(RelayContext& ctx, int side) override;
  void BeginClose(RelayContext& ctx, CloseReason reason) override;
  bool finished() const override { return closing_ && inflight_ == 0; }
  ConnectionStats Release(RelayContext& ctx, Clock::time_point now) override;
  const ConnectionInfo& info() const override { return *info_; }
  bool closing() const override { return closing_; }
  LiveConnection Snapshot(Clock::time_point now) const override;

 private:
  static constexpr int kClient = 0;    // socket index, and the direction of its receives
  static constexpr int kUpstream = 1;

  // Bytes to send on one socket. `sending` is what a send in flight points into; new bytes go to
  // `queued`, which takes over once `sending` is done.
  struct Outbox {
    std::string sending;
    size_t offset = 0;
    std::string queued;
    size_t size() const { return sending.size() - offset + queued.size(); }
    bool empty() const { return offset == sending.size() && queued.empty(); }
    std::string_view Next();
  };
  struct Side {
    UniqueFd fd;
    bool recv_pending = false;
    bool send_pending = false;
    bool waiting_for_buffer = false;
    bool eof = false;         // it sent FIN
    bool write_shut = false;  // we sent FIN
    // Upstream: nothing asked of it since its last answer. It may have closed meanwhile (a
    // keep-alive timeout), so it is checked before the next request goes on it.
    bool idle = false;
    Outbox out;
  };
  // What waits for an upstream, in order: bytes for a key, the end of the current upstream, or
  // (in stream mode) its half-close.
  struct Pending {
    enum class Kind { kBytes, kRetire, kShutWrite } kind = Kind::kBytes;
    UpstreamSegment segment;
  };

  void OnRecv(RelayContext& ctx, int side, int res, uint32_t flags, Clock::time_point now);
  void OnClientRecv(RelayContext& ctx, int res, std::string_view data, Clock::time_point now);
  void OnUpstreamRecv(RelayContext& ctx, int res, std::string_view data, Clock::time_point now);
  void OnSend(RelayContext& ctx, int side, int res, Clock::time_point now);
  void Apply(RelayContext& ctx, L7Actions& actions);
  void QueueForUpstream(Pending item);
  // Moves pending items to the upstream they name, switching upstreams when the current one is idle.
  void Pump(RelayContext& ctx);
  // Makes `key` the current upstream: an idle one that is still clean, else a new one.
  bool Acquire(RelayContext& ctx, const std::string& key, std::string* error);
  // Parks the current upstream for reuse under its key, or closes it.
  void ReleaseCurrent(bool keep);
  // Lets go of the current upstream once no request is in flight on it (cancelling a receive);
  // with `end`, the session is then told it ended.
  void StartDetach(RelayContext& ctx, bool keep, std::optional<UpstreamEnd> end, std::string reason);
  void MaybeCompleteDetach(RelayContext& ctx);
  void MaybeReceive(RelayContext& ctx, int side);
  bool WantsBytesFrom(int side) const;
  void SendNext(RelayContext& ctx, int side);
  void AfterProgress(RelayContext& ctx, Clock::time_point now);
  void MaybeStreamShutdown(RelayContext& ctx);
  void MaybeFinish(RelayContext& ctx, Clock::time_point now);
  size_t UpstreamBacklog() const;
  void CloseWith(RelayContext& ctx, CloseReason reason, bool reset);
  uint64_t UserData(Op op) const { return PackUserData(op, id_); }

  uint64_t id_;
  std::array<Side, 2> side_;
  std::unique_ptr<L7Session> session_;
  std::shared_ptr<UpstreamOpener> opener_;
  std::shared_ptr<const ConnectionInfo> info_;
  AcceptedConnection accepted_;
  std::string current_key_;  // the key of side_[kUpstream], when it is open
  std::deque<Pending> pending_;
  std::string last_key_;  // key of the last segment queued: where stream bytes go
  std::vector<std::pair<std::string, UniqueFd>> idle_;  // idle upstreams by key, oldest first
  struct Detach {
    bool active = false;
    bool keep = false;  // park it for reuse (a switch), unless something arrived on it meanwhile
    std::optional<UpstreamEnd> end;
    std::string reason;
  };
  Detach detach_;
  bool stream_ = false;     // become_stream: the session is out of the loop
  bool finishing_ = false;  // kFinish: FIN once the client's outbox is empty
  bool draining_ = false;   // FIN sent: reading (and dropping) until the client closes
  Clock::time_point created_;
  Clock::time_point last_activity_;
  Clock::time_point drain_started_{};
  uint64_t bytes_[2] = {0, 0};  // [0] client -> upstreams, [1] upstreams -> client
  bool closing_ = false;
  CloseReason reason_ = CloseReason::kCompleted;
  unsigned inflight_ = 0;
};

}  // namespace ferry::proxy
