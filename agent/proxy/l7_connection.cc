#include "agent/proxy/l7_connection.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "agent/proxy/socket_ops.h"

namespace ferry::proxy {

namespace {

// Stop reading a side while this many bytes wait to be sent the other way.
constexpr size_t kMaxBacklogBytes = 256 * 1024;
// Idle upstreams kept per connection (one per key); beyond it the oldest is closed.
constexpr size_t kMaxIdleUpstreams = 8;
// After our FIN: how long the client may take to close before we do.
constexpr std::chrono::milliseconds kFinishDrain{1000};

// A parked upstream is reusable only if nothing arrived on it: not an EOF (the relay behind it
// closed), not bytes (nothing may come unasked).
bool StillClean(int fd) {
  char byte;
  ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

std::string_view L7Connection::Outbox::Next() {
  if (offset == sending.size()) {
    sending.swap(queued);
    queued.clear();
    offset = 0;
  }
  return {sending.data() + offset, sending.size() - offset};
}

L7Connection::L7Connection(uint64_t id, UniqueFd client, const AcceptedConnection& accepted, L7Plan plan,
                           Clock::time_point now)
    : id_(id),
      session_(std::move(plan.session)),
      opener_(std::move(plan.opener)),
      info_(plan.info ? std::move(plan.info) : std::make_shared<const ConnectionInfo>()),
      accepted_(accepted),
      created_(now),
      last_activity_(now) {
  side_[kClient].fd = std::move(client);
  accepted_.fd = side_[kClient].fd.get();
}

void L7Connection::Start(RelayContext& ctx) {
  DisableNagle(side_[kClient].fd.get());
  (void)EnableKeepalive(side_[kClient].fd.get(), ctx.options.keepalive_idle, ctx.options.keepalive_interval,
                        ctx.options.keepalive_count);
  MaybeReceive(ctx, kClient);
}

void L7Connection::OnCompletion(RelayContext& ctx, Op op, int res, uint32_t flags, Clock::time_point now) {
  FERRY_ASSERT(inflight_ > 0);
  --inflight_;
  switch (op) {
    case Op::kRecvFromClient: OnRecv(ctx, kClient, res, flags, now); break;
    case Op::kRecvFromUpstream: OnRecv(ctx, kUpstream, res, flags, now); break;
    case Op::kSendToClient: OnSend(ctx, kClient, res, now); break;
    case Op::kSendToUpstream: OnSend(ctx, kUpstream, res, now); break;
    case Op::kCancel: break;
    default: FERRY_ASSERT(false && "unexpected op for an L7 connection");
  }
}

void L7Connection::OnRecv(RelayContext& ctx, int s, int res, uint32_t flags, Clock::time_point now) {
  Side& side = side_[s];
  side.recv_pending = false;
  bool has_buffer = (flags & IORING_CQE_F_BUFFER) != 0;
  auto buffer_id = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
  if (has_buffer) {
    ctx.buffers.MarkTaken();
    ctx.counters.buffers_in_use.Add();
  }
  if (!closing_) {
    if (res == -ENOBUFS) {
      ctx.counters.enobufs.Add();
      side.waiting_for_buffer = true;
      ctx.buffer_waiters.emplace_back(id_, s);
    } else {
      std::string_view data;
      if (has_buffer && res > 0) data = {reinterpret_cast<const char*>(ctx.buffers.Data(buffer_id)), size_t(res)};
      // The bytes are consumed (copied) before the buffer goes back to the ring.
      if (s == kClient) {
        OnClientRecv(ctx, res, data, now);
      } else {
        OnUpstreamRecv(ctx, res, data, now);
      }
    }
  }
  if (has_buffer) {
    ctx.buffers.Recycle(buffer_id);
    ctx.counters.buffers_in_use.Sub(1);
  }
  if (!closing_) AfterProgress(ctx, now);
}

void L7Connection::OnClientRecv(RelayContext& ctx, int res, std::string_view data, Clock::time_point now) {
  if (draining_) {
    if (res <= 0) CloseWith(ctx, CloseReason::kCompleted, false);
    return;
  }
  if (res < 0) {
    CloseWith(ctx, CloseReason::kClientReset, true);
    return;
  }
  last_activity_ = now;
  if (res == 0) {
    side_[kClient].eof = true;
    if (stream_) {
      QueueForUpstream(Pending{Pending::Kind::kShutWrite, {}});
      return;
    }
    L7Actions actions;
    session_->OnClientEof(actions);
    Apply(ctx, actions);
    return;
  }
  if (stream_) {
    QueueForUpstream(Pending{Pending::Kind::kBytes, {last_key_, std::string(data)}});
    return;
  }
  L7Actions actions;
  session_->OnClientBytes(data, actions);
  Apply(ctx, actions);
}

void L7Connection::OnUpstreamRecv(RelayContext& ctx, int res, std::string_view data, Clock::time_point now) {
  if (detach_.active) {
    // Cancelled while we were letting go of this upstream; anything it sent now was never asked
    // for, and an EOF means it is gone: either way it is not reusable.
    if (res != -ECANCELED) detach_.keep = false;
    return;
  }
  if (res > 0) {
    last_activity_ = now;
    if (stream_) {
      side_[kClient].out.queued.append(data);
      return;
    }
    L7Actions actions;
    session_->OnUpstreamBytes(data, actions);
    Apply(ctx, actions);
    return;
  }
  if (stream_) {
    if (res == 0) {
      side_[kUpstream].eof = true;
    } else {
      CloseWith(ctx, CloseReason::kUpstreamReset, true);
    }
    return;
  }
  side_[kUpstream].eof = res == 0;
  StartDetach(ctx, false, res == 0 ? UpstreamEnd::kClosed : UpstreamEnd::kReset,
              res == 0 ? "upstream closed" : std::strerror(-res));
}

void L7Connection::StartDetach(RelayContext& ctx, bool keep, std::optional<UpstreamEnd> end, std::string reason) {
  Side& up = side_[kUpstream];
  FERRY_ASSERT(!detach_.active);
  detach_ = Detach{true, keep, end, std::move(reason)};
  if (!up.recv_pending && !up.send_pending) return;  // completed by AfterProgress
  // Requests in flight on the fd must complete before it is closed or replaced: their
  // completions carry only this connection's id.
  io_uring_sqe* sqe = ctx.ring.GetSqe();
  io_uring_prep_cancel_fd(sqe, up.fd.get(), IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data64(sqe, UserData(Op::kCancel));
  ++inflight_;
}

void L7Connection::MaybeCompleteDetach(RelayContext& ctx) {
  Side& up = side_[kUpstream];
  if (!detach_.active || up.recv_pending || up.send_pending) return;
  Detach detach = std::move(detach_);
  detach_ = Detach{};
  std::string key = current_key_;
  ReleaseCurrent(detach.keep && up.out.empty());
  if (!detach.end) return;
  // What was still queued for that upstream (the rest of a request) has nowhere to go.
  while (!pending_.empty() && pending_.front().kind == Pending::Kind::kBytes && pending_.front().segment.key == key) {
    pending_.pop_front();
  }
  L7Actions actions;
  session_->OnUpstreamEnd(*detach.end, detach.reason, actions);
  Apply(ctx, actions);
}

void L7Connection::OnSend(RelayContext& ctx, int s, int res, Clock::time_point now) {
  Side& side = side_[s];
  side.send_pending = false;
  if (closing_) return;
  if (s == kUpstream && detach_.active) {
    if (res < 0) detach_.keep = false;
    AfterProgress(ctx, now);
    return;
  }
  if (res < 0) {
    if (s == kClient || stream_) {
      CloseWith(ctx, s == kClient ? CloseReason::kClientReset : CloseReason::kUpstreamReset, true);
    } else {
      StartDetach(ctx, false, UpstreamEnd::kReset, std::strerror(-res));
      AfterProgress(ctx, now);
    }
    return;
  }
  auto sent = static_cast<size_t>(res);
  side.out.offset += sent;
  int direction = s == kUpstream ? 0 : 1;
  bytes_[direction] += sent;
  ctx.counters.bytes[direction].Add(sent);
  if (sent > 0) last_activity_ = now;
  AfterProgress(ctx, now);
}

void L7Connection::Apply(RelayContext& ctx, L7Actions& actions) {
  if (actions.end == L7Actions::End::kReset) {
    spdlog::debug("proxy: L7 connection {} reset: {}", id_, actions.reason);
    CloseWith(ctx, CloseReason::kClientReset, true);
    return;
  }
  side_[kClient].out.queued += actions.to_client;
  // The retire is about the upstream that was current when the session acted: before its new bytes.
  if (actions.retire_upstream) QueueForUpstream(Pending{Pending::Kind::kRetire, {}});
  for (UpstreamSegment& segment : actions.to_upstream) {
    QueueForUpstream(Pending{Pending::Kind::kBytes, std::move(segment)});
  }
  if (actions.become_stream && !stream_) {
    stream_ = true;
    // The client may have half-closed while the session decided: pass that on after its bytes.
    if (side_[kClient].eof) QueueForUpstream(Pending{Pending::Kind::kShutWrite, {}});
  }
  if (actions.end == L7Actions::End::kFinish) {
    spdlog::debug("proxy: L7 connection {} finishing: {}", id_, actions.reason);
    finishing_ = true;
  }
}

void L7Connection::QueueForUpstream(Pending item) {
  if (item.kind == Pending::Kind::kBytes) {
    last_key_ = item.segment.key;
    // Consecutive bytes for one key travel as one send.
    if (!pending_.empty() && pending_.back().kind == Pending::Kind::kBytes &&
        pending_.back().segment.key == item.segment.key) {
      pending_.back().segment.bytes += item.segment.bytes;
      return;
    }
  }
  pending_.push_back(std::move(item));
}

void L7Connection::Pump(RelayContext& ctx) {
  Side& up = side_[kUpstream];
  while (!closing_ && !detach_.active && !pending_.empty()) {
    Pending& item = pending_.front();
    bool busy = up.send_pending || !up.out.empty();
    if (item.kind == Pending::Kind::kShutWrite) {
      if (busy) return;
      if (up.fd.valid() && !up.write_shut) (void)::shutdown(up.fd.get(), SHUT_WR);
      up.write_shut = true;
      pending_.pop_front();
      continue;
    }
    bool switching = item.kind == Pending::Kind::kRetire || item.segment.key != current_key_;
    if (switching && up.fd.valid()) {
      if (busy) return;
      bool keep = item.kind != Pending::Kind::kRetire;
      if (up.recv_pending) {  // the switch resumes once the cancelled receive completes
        StartDetach(ctx, keep, std::nullopt, {});
        return;
      }
      ReleaseCurrent(keep);
    }
    if (item.kind == Pending::Kind::kRetire) {
      pending_.pop_front();
      continue;
    }
    if (up.fd.valid() && up.idle && !busy) {
      up.idle = false;
      if (!StillClean(up.fd.get())) ReleaseCurrent(false);
    }
    if (!up.fd.valid()) {
      std::string error;
      if (!Acquire(ctx, item.segment.key, &error)) {
        std::string key = item.segment.key;
        while (!pending_.empty() && pending_.front().kind == Pending::Kind::kBytes &&
               pending_.front().segment.key == key) {
          pending_.pop_front();  // the request's bytes have nowhere to go
        }
        L7Actions actions;
        session_->OnUpstreamEnd(UpstreamEnd::kUnavailable, error, actions);
        Apply(ctx, actions);
        continue;
      }
    }
    up.out.queued += item.segment.bytes;
    pending_.pop_front();
    SendNext(ctx, kUpstream);
  }
}

bool L7Connection::Acquire(RelayContext& ctx, const std::string& key, std::string* error) {
  Side& up = side_[kUpstream];
  for (auto it = idle_.begin(); it != idle_.end(); ++it) {
    if (it->first != key) continue;
    UniqueFd fd = std::move(it->second);
    idle_.erase(it);
    if (StillClean(fd.get())) {
      up = Side{};
      up.fd = std::move(fd);
      current_key_ = key;
      return true;
    }
    break;  // closed or dirty: open a new one
  }
  if (opener_ == nullptr) {
    *error = "no upstream opener";
    return false;
  }
  auto fd = ctx.spawner.SpawnInternal(opener_->Open(key), accepted_);
  if (!fd.ok()) {
    *error = fd.error().Message();
    return false;
  }
  up = Side{};
  up.fd = std::move(fd).value();
  current_key_ = key;
  return true;
}

void L7Connection::ReleaseCurrent(bool keep) {
  Side& up = side_[kUpstream];
  if (up.fd.valid() && keep && !up.eof && !current_key_.empty()) {
    if (idle_.size() >= kMaxIdleUpstreams) idle_.erase(idle_.begin());
    idle_.emplace_back(current_key_, std::move(up.fd));
  }
  // Only called with nothing in flight on it. Closing the fd ends the relay behind it.
  up = Side{};
  current_key_.clear();
}

bool L7Connection::WantsBytesFrom(int s) const {
  if (s == kClient) {
    if (draining_) return true;
    if (finishing_) return false;
    if (UpstreamBacklog() >= kMaxBacklogBytes) return false;
    return stream_ || session_->WantsClientBytes();
  }
  if (finishing_ || detach_.active || !side_[kUpstream].fd.valid()) return false;
  if (side_[kClient].out.size() >= kMaxBacklogBytes) return false;
  // An upstream with bytes still pending for it must not be read by a session that switched away.
  return stream_ || session_->WantsUpstreamBytes();
}

void L7Connection::MaybeReceive(RelayContext& ctx, int s) {
  Side& side = side_[s];
  if (closing_ || side.recv_pending || side.waiting_for_buffer || side.eof || !side.fd.valid()) return;
  if (!WantsBytesFrom(s)) {
    if (s == kUpstream && !stream_ && !session_->WantsUpstreamBytes()) side.idle = true;
    return;
  }
  side.idle = false;
  io_uring_sqe* sqe = ctx.ring.GetSqe();
  io_uring_prep_recv(sqe, side.fd.get(), nullptr, ctx.buffers.buffer_size(), 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = ctx.buffers.group_id();
  io_uring_sqe_set_data64(sqe, UserData(RecvOp(s == kClient ? 0 : 1)));
  side.recv_pending = true;
  ++inflight_;
}

void L7Connection::SendNext(RelayContext& ctx, int s) {
  Side& side = side_[s];
  if (closing_ || side.send_pending || side.out.empty() || !side.fd.valid()) return;
  std::string_view bytes = side.out.Next();
  io_uring_sqe* sqe = ctx.ring.GetSqe();
  io_uring_prep_send(sqe, side.fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, UserData(SendOp(s == kUpstream ? 0 : 1)));
  side.send_pending = true;
  ++inflight_;
}

size_t L7Connection::UpstreamBacklog() const {
  size_t total = side_[kUpstream].out.size();
  for (const Pending& item : pending_) total += item.segment.bytes.size();
  return total;
}

void L7Connection::AfterProgress(RelayContext& ctx, Clock::time_point now) {
  MaybeCompleteDetach(ctx);
  if (closing_) return;
  Pump(ctx);
  if (closing_) return;
  SendNext(ctx, kClient);
  if (stream_) MaybeStreamShutdown(ctx);
  if (closing_) return;
  MaybeFinish(ctx, now);
  if (closing_) return;
  MaybeReceive(ctx, kClient);
  MaybeReceive(ctx, kUpstream);
}

void L7Connection::MaybeStreamShutdown(RelayContext& ctx) {
  Side& client = side_[kClient];
  Side& up = side_[kUpstream];
  if (up.eof && !client.write_shut && !client.send_pending && client.out.empty()) {
    (void)::shutdown(client.fd.get(), SHUT_WR);
    client.write_shut = true;
  }
  if (client.write_shut && up.write_shut && client.eof) CloseWith(ctx, CloseReason::kCompleted, false);
}

void L7Connection::MaybeFinish(RelayContext& ctx, Clock::time_point now) {
  Side& client = side_[kClient];
  if (!finishing_ || draining_ || client.send_pending || !client.out.empty()) return;
  (void)::shutdown(client.fd.get(), SHUT_WR);
  client.write_shut = true;
  draining_ = true;
  drain_started_ = now;
  if (client.eof) CloseWith(ctx, CloseReason::kCompleted, false);
}

void L7Connection::RetryReceive(RelayContext& ctx, int s) {
  side_[s].waiting_for_buffer = false;
  MaybeReceive(ctx, s);
}

void L7Connection::CheckTimeouts(RelayContext& ctx, Clock::time_point now) {
  if (closing_) return;
  if (draining_) {
    if (now - drain_started_ >= kFinishDrain) CloseWith(ctx, CloseReason::kCompleted, false);
    return;
  }
  if (now - last_activity_ >= ctx.options.idle_timeout) CloseWith(ctx, CloseReason::kIdleTimeout, false);
}

void L7Connection::BeginClose(RelayContext& ctx, CloseReason reason) {
  bool reset = reason != CloseReason::kCompleted && reason != CloseReason::kIdleTimeout;
  CloseWith(ctx, reason, reset);
}

void L7Connection::CloseWith(RelayContext& ctx, CloseReason reason, bool reset) {
  if (closing_) return;
  closing_ = true;
  reason_ = reason;
  switch (reason) {
    case CloseReason::kCompleted: ctx.counters.completed.Add(); break;
    case CloseReason::kIdleTimeout: ctx.counters.idle_timeouts.Add(); break;
    case CloseReason::kAborted: ctx.counters.aborted.Add(); break;
    case CloseReason::kShutdown: break;
    default: ctx.counters.resets.Add(); break;
  }
  if (reset && side_[kClient].fd.valid()) ArmResetOnClose(side_[kClient].fd.get());
  idle_.clear();  // closing them ends the relays behind them
  pending_.clear();
  if (inflight_ == 0) return;
  for (Side& side : side_) {
    if (!side.fd.valid()) continue;
    io_uring_sqe* sqe = ctx.ring.GetSqe();
    io_uring_prep_cancel_fd(sqe, side.fd.get(), IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, UserData(Op::kCancel));
    ++inflight_;
  }
}

ConnectionStats L7Connection::Release(RelayContext& /*ctx*/, Clock::time_point now) {
  FERRY_ASSERT(finished());
  for (Side& side : side_) side.fd.Reset();
  idle_.clear();
  ConnectionStats stats;
  stats.bytes_client_to_upstream = bytes_[0];
  stats.bytes_upstream_to_client = bytes_[1];
  stats.duration = std::chrono::duration_cast<std::chrono::milliseconds>(now - created_);
  stats.reason = reason_;
  stats.tls_mode = "none";
  return stats;
}

LiveConnection L7Connection::Snapshot(Clock::time_point now) const {
  LiveConnection live;
  live.info = info_;
  live.client = accepted_.peer;
  live.target = accepted_.local;
  live.bytes_client_to_upstream = bytes_[0];
  live.bytes_upstream_to_client = bytes_[1];
  live.age = std::chrono::duration_cast<std::chrono::milliseconds>(now - created_);
  return live;
}

}  // namespace ferry::proxy
