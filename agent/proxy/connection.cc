#include "agent/proxy/connection.h"

#include <sys/socket.h>

#include <cerrno>

#include "agent/proxy/socket_ops.h"
#include "common/result.h"

namespace ferry::proxy {

namespace {

bool IsResetReason(CloseReason reason) {
  switch (reason) {
    case CloseReason::kCompleted:
    case CloseReason::kIdleTimeout:
    case CloseReason::kHalfCloseTimeout:
      return false;
    default:
      return true;
  }
}

void CountClose(WorkerCounters& counters, CloseReason reason) {
  switch (reason) {
    case CloseReason::kCompleted: counters.completed.Add(); break;
    case CloseReason::kClientReset:
    case CloseReason::kUpstreamReset: counters.resets.Add(); break;
    case CloseReason::kConnectFailed: counters.connect_failures.Add(); break;
    case CloseReason::kConnectTimeout: counters.connect_timeouts.Add(); break;
    case CloseReason::kIdleTimeout: counters.idle_timeouts.Add(); break;
    case CloseReason::kHalfCloseTimeout: counters.half_close_timeouts.Add(); break;
    case CloseReason::kAborted: counters.aborted.Add(); break;
    case CloseReason::kShutdown: break;
    case CloseReason::kSetupFailed: counters.setups_failed.Add(); break;
  }
}

__kernel_timespec ToTimespec(std::chrono::milliseconds ms) {
  __kernel_timespec ts{};
  ts.tv_sec = ms.count() / 1000;
  ts.tv_nsec = (ms.count() % 1000) * 1000000;
  return ts;
}

}  // namespace

Connection::Connection(uint64_t id, UniqueFd client, const AcceptedConnection& accepted,
                       ForwardPlan plan, Clock::time_point now)
    : id_(id),
      client_peer_(accepted.peer),
      target_(plan.target),
      info_(plan.info ? std::move(plan.info) : std::make_shared<const ConnectionInfo>()),
      created_(now),
      last_activity_(now),
      accepted_(accepted) {
  socket_[0] = std::move(client);
  socket_[1] = std::move(plan.upstream);
  accepted_.fd = socket_[0].get();
  if (plan.upstream_leg != nullptr) {
    leg_ = std::move(plan.upstream_leg);
    leg_side_ = 1;
    phase_ = Phase::kSetup;
    holds_setup_slot_ = true;
  }
}

Connection::Connection(uint64_t id, UniqueFd client, const AcceptedConnection& accepted,
                       AcceptLegPlan plan, Clock::time_point now)
    : id_(id),
      client_peer_(accepted.peer),
      info_(plan.info ? std::move(plan.info) : std::make_shared<const ConnectionInfo>()),
      created_(now),
      last_activity_(now),
      connecting_(false),
      leg_(std::move(plan.leg)),
      leg_side_(0),
      phase_(Phase::kSetup),
      holds_setup_slot_(true),
      accepted_(accepted) {
  socket_[0] = std::move(client);
  accepted_.fd = socket_[0].get();
}

std::span<const uint8_t> Connection::Spill::Next() {
  if (offset == sending.size()) {
    sending.swap(queued);  // the old `sending` keeps its capacity for the next round
    queued.clear();
    offset = 0;
  }
  return {sending.data() + offset, sending.size() - offset};
}

std::vector<uint8_t>& Connection::Spill::Queue(SpillBufferPool& pool) {
  if (queued.capacity() == 0) queued = pool.Take();
  return queued;
}

void Connection::Spill::Release(SpillBufferPool& pool) {
  pool.Give(std::move(sending));
  pool.Give(std::move(queued));
  sending = {};
  queued = {};
  offset = 0;
}

void Connection::StartConnect(RelayContext& ctx) {
  target_sockaddr_ = target_.ToSockaddr();
  connect_timeout_ = ToTimespec(ctx.options.connect_timeout);
  // A link spans only entries submitted together: make room for both before taking either.
  ctx.ring.ReserveSqes(2);
  io_uring_sqe* sqe = ctx.ring.GetSqe();
  io_uring_prep_connect(sqe, socket_[1].get(), reinterpret_cast<const sockaddr*>(&target_sockaddr_),
                        sizeof(target_sockaddr_));
  io_uring_sqe_set_data64(sqe, UserData(Op::kConnect));
  sqe->flags |= IOSQE_IO_LINK;
  io_uring_sqe* timeout = ctx.ring.GetSqe();
  io_uring_prep_link_timeout(timeout, &connect_timeout_, 0);
  io_uring_sqe_set_data64(timeout, UserData(Op::kConnectTimeout));
  inflight_ += 2;
}

void Connection::OnCompletion(RelayContext& ctx, Op op, int res, uint32_t flags,
                              Clock::time_point now) {
  FERRY_ASSERT(inflight_ > 0);
  --inflight_;
  switch (op) {
    case Op::kConnect: OnConnect(ctx, res, now); break;
    case Op::kConnectTimeout: break;  // the connect's own completion says what happened
    case Op::kRecvFromClient: OnRecv(ctx, 0, res, flags, now); break;
    case Op::kRecvFromUpstream: OnRecv(ctx, 1, res, flags, now); break;
    case Op::kSendToUpstream: OnSend(ctx, 0, res, now); break;
    case Op::kSendToClient: OnSend(ctx, 1, res, now); break;
    case Op::kCancel: break;
    default: FERRY_ASSERT(false && "unexpected op for a connection");
  }
}

void Connection::OnConnect(RelayContext& ctx, int res, Clock::time_point now) {
  if (closing_) return;
  if (leg_ != nullptr) {
    OnLegConnect(ctx, res, now);
    return;
  }
  if (res == -ECANCELED) {  // the linked timeout fired first
    BeginClose(ctx, CloseReason::kConnectTimeout);
    return;
  }
  if (res < 0) {
    BeginClose(ctx, CloseReason::kConnectFailed);
    return;
  }
  connecting_ = false;
  for (auto& fd : socket_) {
    DisableNagle(fd.get());
    // Keepalive is a liveness aid; a failure here does not stop the relay.
    (void)EnableKeepalive(fd.get(), ctx.options.keepalive_idle, ctx.options.keepalive_interval,
                          ctx.options.keepalive_count);
  }
  MaybeReceive(ctx, 0);
  MaybeReceive(ctx, 1);
}

void Connection::MaybeReceive(RelayContext& ctx, int d) {
  Direction& dir = dir_[d];
  if (closing_ || connecting_ || dir.recv_pending || dir.waiting_for_buffer || dir.eof) return;
  if (leg_ == nullptr) {
    // While the destination is not keeping up, hold one buffer, not the full allowance: buffers
    // parked behind a stalled reader are buffers other connections of this worker cannot use.
    size_t allowance = dir.destination_full ? 1 : kMaxChunksPerDirection;
    if (dir.count >= allowance) return;
  } else if (!LegAllowsReceive(d)) {
    return;
  }
  io_uring_sqe* sqe = ctx.ring.GetSqe();
  // No buffer is named: the kernel picks one from the ring only when bytes arrive.
  io_uring_prep_recv(sqe, socket_[d].get(), nullptr, ctx.buffers.buffer_size(), 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = ctx.buffers.group_id();
  io_uring_sqe_set_data64(sqe, UserData(RecvOp(d)));
  dir.recv_pending = true;
  ++inflight_;
}

void Connection::OnRecv(RelayContext& ctx, int d, int res, uint32_t flags, Clock::time_point now) {
  Direction& dir = dir_[d];
  dir.recv_pending = false;
  bool has_buffer = (flags & IORING_CQE_F_BUFFER) != 0;
  uint16_t buffer_id = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
  if (has_buffer) {
    ctx.buffers.MarkTaken();
    ctx.counters.buffers_in_use.Add();
  }
  if (phase_ != Phase::kRelay || dir.transform != Transform::kNone) {
    // A leg consumes received bytes at once (setup, Protect/Unprotect): the buffer goes back
    // right after, never before, as a nested submit could hand it out again.
    if (!closing_ && res == -ENOBUFS) {
      WaitForBuffer(ctx, d);
    } else if (!closing_) {
      size_t length = has_buffer && res > 0 ? static_cast<size_t>(res) : 0;
      OnLegRecv(ctx, d, res, {has_buffer ? ctx.buffers.Data(buffer_id) : nullptr, length}, now);
    }
    if (has_buffer) {
      ctx.buffers.Recycle(buffer_id);
      ctx.counters.buffers_in_use.Sub(1);
    }
    return;
  }
  if (closing_ || res <= 0) {
    if (has_buffer) {
      ctx.buffers.Recycle(buffer_id);
      ctx.counters.buffers_in_use.Sub(1);
    }
  }
  if (closing_) return;
  if (res > 0) {
    FERRY_ASSERT(has_buffer && dir.count < kMaxChunksPerDirection);
    dir.chunks[(dir.head + dir.count) % kMaxChunksPerDirection] =
        Chunk{buffer_id, 0, static_cast<uint32_t>(res)};
    ++dir.count;
    ctx.counters.buffered_bytes.Add(static_cast<uint64_t>(res));
    last_activity_ = now;
    if (!dir.send_pending) SendFront(ctx, d);
    MaybeReceive(ctx, d);
  } else if (res == 0) {
    dir.eof = true;
    if (first_eof_ == Clock::time_point{}) first_eof_ = now;
    MaybeShutdown(ctx, d, now);
  } else if (res == -ENOBUFS) {
    WaitForBuffer(ctx, d);
  } else if (res == -EIO && d == leg_side_) {
    OnKernelRecord(ctx, d, now);  // kTLS: a non-data record is next
  } else {
    BeginClose(ctx, ResetBy(d));
  }
}

void Connection::WaitForBuffer(RelayContext& ctx, int d) {
  // Every buffer of this worker holds data in flight; wait for one to be recycled.
  ctx.counters.enobufs.Add();
  dir_[d].waiting_for_buffer = true;
  ctx.buffer_waiters.emplace_back(id_, d);
}

void Connection::SendFront(RelayContext& ctx, int d) {
  Direction& dir = dir_[d];
  Chunk& chunk = dir.front();
  io_uring_sqe* sqe = ctx.ring.GetSqe();
  io_uring_prep_send(sqe, socket_[1 - d].get(), ctx.buffers.Data(chunk.buffer_id) + chunk.offset,
                     chunk.length, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, UserData(SendOp(d)));
  dir.send_pending = true;
  dir.sending_spill = false;
  ++inflight_;
}

void Connection::SendNext(RelayContext& ctx, int d) {
  Direction& dir = dir_[d];
  if (dir.send_pending) return;
  if (dir.count > 0) {
    SendFront(ctx, d);
  } else if (!dir.spill.empty()) {
    SendSpill(ctx, d);
  } else {
    dir.spill.Release(ctx.spill_pool);  // drained (e.g. a transform that produced nothing yet)
  }
}

void Connection::SendSpill(RelayContext& ctx, int d) {
  Direction& dir = dir_[d];
  std::span<const uint8_t> bytes = dir.spill.Next();
  io_uring_sqe* sqe = ctx.ring.GetSqe();
  io_uring_prep_send(sqe, socket_[1 - d].get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, UserData(SendOp(d)));
  dir.send_pending = true;
  dir.sending_spill = true;
  ++inflight_;
}

void Connection::OnSpillSent(RelayContext& ctx, int d, uint32_t sent) {
  Direction& dir = dir_[d];
  dir.spill.offset += sent;
  dir.bytes += sent;
  ctx.counters.bytes[d].Add(sent);
  ctx.counters.buffered_bytes.Sub(sent);
}

void Connection::OnSend(RelayContext& ctx, int d, int res, Clock::time_point now) {
  Direction& dir = dir_[d];
  dir.send_pending = false;
  if (closing_) return;
  if (res < 0) {
    BeginClose(ctx, phase_ == Phase::kRelay ? ResetBy(1 - d) : CloseReason::kSetupFailed);
    return;
  }
  auto sent = static_cast<uint32_t>(res);
  if (sent > 0) last_activity_ = now;
  if (dir.sending_spill) {
    OnSpillSent(ctx, d, sent);
  } else {
    Chunk& chunk = dir.front();
    dir.destination_full = sent < chunk.length;
    chunk.offset += sent;
    chunk.length -= sent;
    dir.bytes += sent;
    ctx.counters.bytes[d].Add(sent);
    ctx.counters.buffered_bytes.Sub(sent);
    if (chunk.length == 0) {
      ctx.buffers.Recycle(chunk.buffer_id);
      ctx.counters.buffers_in_use.Sub(1);
      dir.head = (dir.head + 1) % kMaxChunksPerDirection;
      --dir.count;
    }
  }
  if (dir.count > 0) {
    SendFront(ctx, d);
  } else if (!dir.spill.empty()) {
    SendSpill(ctx, d);
  } else {
    dir.spill.Release(ctx.spill_pool);  // drained
  }
  if (phase_ != Phase::kRelay) {
    if (d == IntoLeg() && dir.spill.empty()) OnLegOutputFlushed(ctx, now);
    return;
  }
  MaybeReceive(ctx, d);
  MaybeShutdown(ctx, d, now);
}

void Connection::MaybeShutdown(RelayContext& ctx, int d, Clock::time_point /*now*/) {
  Direction& dir = dir_[d];
  if (!dir.eof || dir.count > 0 || dir.write_shut) return;
  if (leg_ != nullptr) {
    if (!dir.spill.empty()) return;
    if (1 - d == leg_side_ && !FinishLeg(ctx)) return;
  }
  // Non-blocking: queues a FIN behind the bytes already in the socket's send buffer. ENOTCONN
  // (the destination already went away) surfaces on that direction's next receive.
  (void)::shutdown(socket_[1 - d].get(), SHUT_WR);
  dir.write_shut = true;
  if (dir_[0].write_shut && dir_[1].write_shut) BeginClose(ctx, CloseReason::kCompleted);
}

void Connection::CheckTimeouts(RelayContext& ctx, Clock::time_point now) {
  if (closing_) return;
  if (phase_ != Phase::kRelay) {
    CheckLegTimeouts(ctx, now);
    return;
  }
  if (connecting_) return;  // connecting is bounded by the linked timeout
  if (first_eof_ != Clock::time_point{} && now - first_eof_ >= ctx.options.half_close_timeout) {
    BeginClose(ctx, CloseReason::kHalfCloseTimeout);
  } else if (now - last_activity_ >= ctx.options.idle_timeout) {
    BeginClose(ctx, CloseReason::kIdleTimeout);
  }
}

void Connection::RetryReceive(RelayContext& ctx, int d) {
  dir_[d].waiting_for_buffer = false;
  MaybeReceive(ctx, d);
}

void Connection::BeginClose(RelayContext& ctx, CloseReason reason) {
  // Closing with bytes still buffered would silently truncate the stream: reset instead.
  CloseWith(ctx, reason, IsResetReason(reason) || BufferedBytes() > 0);
}

void Connection::CloseWith(RelayContext& ctx, CloseReason reason, bool reset) {
  if (closing_) return;
  closing_ = true;
  reason_ = reason;
  CountClose(ctx.counters, reason);
  if (holds_setup_slot_) ReleaseSetupSlot(ctx);
  if (reset) {
    for (auto& fd : socket_) {
      if (fd.valid()) ArmResetOnClose(fd.get());
    }
  }
  if (inflight_ == 0) return;
  for (auto& fd : socket_) {
    if (!fd.valid()) continue;  // an acceptor's upstream before the decision
    io_uring_sqe* sqe = ctx.ring.GetSqe();
    io_uring_prep_cancel_fd(sqe, fd.get(), IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, UserData(Op::kCancel));
    ++inflight_;
  }
}

uint64_t Connection::BufferedBytes() const {
  uint64_t total = 0;
  for (const Direction& dir : dir_) {
    for (size_t i = 0; i < dir.count; ++i) {
      total += dir.chunks[(dir.head + i) % kMaxChunksPerDirection].length;
    }
    total += dir.spill.size();
  }
  return total;
}

ConnectionStats Connection::Release(RelayContext& ctx, Clock::time_point now) {
  FERRY_ASSERT(finished());
  for (Direction& dir : dir_) {
    for (; dir.count > 0; --dir.count) {
      Chunk& chunk = dir.front();
      ctx.counters.buffered_bytes.Sub(chunk.length);
      ctx.buffers.Recycle(chunk.buffer_id);
      ctx.counters.buffers_in_use.Sub(1);
      dir.head = (dir.head + 1) % kMaxChunksPerDirection;
    }
    ctx.counters.buffered_bytes.Sub(dir.spill.size());
    dir.spill.Release(ctx.spill_pool);
  }
  ConnectionStats stats;
  if (leg_ != nullptr) stats.tls_mode = std::string(leg_->mode());
  leg_.reset();
  for (auto& fd : socket_) fd.Reset();
  stats.bytes_client_to_upstream = dir_[0].bytes;
  stats.bytes_upstream_to_client = dir_[1].bytes;
  stats.duration = std::chrono::duration_cast<std::chrono::milliseconds>(now - created_);
  stats.reason = reason_;
  return stats;
}

LiveConnection Connection::Snapshot(Clock::time_point now) const {
  LiveConnection live;
  live.info = info_;
  live.client = client_peer_;
  live.target = target_;
  live.bytes_client_to_upstream = dir_[0].bytes;
  live.bytes_upstream_to_client = dir_[1].bytes;
  live.age = std::chrono::duration_cast<std::chrono::milliseconds>(now - created_);
  live.connecting = connecting_;
  if (leg_ != nullptr) live.tls_mode = std::string(leg_->mode());
  return live;
}

const char* CloseReasonName(CloseReason reason) {
  switch (reason) {
    case CloseReason::kCompleted: return "completed";
    case CloseReason::kClientReset: return "client_reset";
    case CloseReason::kUpstreamReset: return "upstream_reset";
    case CloseReason::kConnectFailed: return "connect_failed";
    case CloseReason::kConnectTimeout: return "connect_timeout";
    case CloseReason::kIdleTimeout: return "idle_timeout";
    case CloseReason::kHalfCloseTimeout: return "half_close_timeout";
    case CloseReason::kAborted: return "aborted";
    case CloseReason::kShutdown: return "shutdown";
    case CloseReason::kSetupFailed: return "setup_failed";
  }
  return "unknown";
}

}  // namespace ferry::proxy
