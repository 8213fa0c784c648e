// The SecureLeg side of Connection: setup on the leg socket (initiator or acceptor), the
// acceptor's decision and refusal, and the data phase's user-space transforms, kTLS control
// records and close_notify. The plain relay in connection.cc only branches here when a
// connection has a leg.
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <variant>

#include "agent/proxy/connection.h"
#include "agent/proxy/socket_ops.h"

namespace ferry::proxy {

namespace {

// User space: stop receiving on a direction while this many transformed bytes wait to be sent.
constexpr size_t kMaxSpillBytes = 64 * 1024;
// A kTLS record holds at most 16 KiB of plaintext.
constexpr size_t kRecordScratchBytes = 16 * 1024;
// After a refusal is sent: how long the peer may take to read it and close, before we close.
constexpr std::chrono::milliseconds kRefusalDrain{1000};

void TuneSocket(const RelayContext& ctx, int fd) {
  DisableNagle(fd);
  // Keepalive is a liveness aid; a failure here does not stop the relay.
  (void)EnableKeepalive(fd, ctx.options.keepalive_idle, ctx.options.keepalive_interval,
                        ctx.options.keepalive_count);
}

}  // namespace

void Connection::StartAcceptor(RelayContext& ctx, Clock::time_point now) {
  TuneSocket(ctx, LegSocket());
  setup_started_ = now;
  std::vector<uint8_t> out;
  LegProgress progress = leg_->Start(&out);
  HandleProgress(ctx, progress, out, now);
}

bool Connection::LegAllowsReceive(int d) const {
  switch (phase_) {
    case Phase::kSetup: return d == leg_side_;
    case Phase::kRefusing: return d == leg_side_ && dir_[IntoLeg()].write_shut;  // draining
    case Phase::kRelay: {
      const Direction& dir = dir_[d];
      if (dir.transform != Transform::kNone) return dir.spill.size() < kMaxSpillBytes;
      // Chunks queue behind the spill (a kTLS record, early plaintext): keep the order.
      size_t allowance = dir.destination_full ? 1 : kMaxChunksPerDirection;
      return dir.count < allowance && dir.spill.empty();
    }
    default: return false;
  }
}

void Connection::AppendSpill(RelayContext& ctx, int d, std::span<const uint8_t> bytes) {
  std::vector<uint8_t>& queued = dir_[d].spill.Queue(ctx.spill_pool);
  queued.insert(queued.end(), bytes.begin(), bytes.end());
  ctx.counters.buffered_bytes.Add(bytes.size());
}

void Connection::OnLegConnect(RelayContext& ctx, int res, Clock::time_point now) {
  if (res < 0) {
    bool timed_out = res == -ECANCELED;  // the linked timeout fired first
    if (leg_side_ == 1) {                // initiator: as a plain relay, the client is reset
      BeginClose(ctx, timed_out ? CloseReason::kConnectTimeout : CloseReason::kConnectFailed);
      return;
    }
    connecting_ = false;
    (timed_out ? ctx.counters.connect_timeouts : ctx.counters.connect_failures).Add();
    std::string reason = timed_out ? std::string("upstream connect timed out")
                                   : "upstream connect failed: " + std::string(std::strerror(-res));
    Refuse(ctx, LegRefusal::kUnavailable, reason, now);
    return;
  }
  connecting_ = false;
  TuneSocket(ctx, socket_[1].get());
  std::vector<uint8_t> out;
  LegProgress progress;
  if (leg_side_ == 1) {
    TuneSocket(ctx, socket_[0].get());
    setup_started_ = now;
    progress = leg_->Start(&out);
  } else {
    progress = leg_->Accept(&out);
  }
  HandleProgress(ctx, progress, out, now);
}

void Connection::HandleProgress(RelayContext& ctx, const LegProgress& progress,
                                std::vector<uint8_t>& out, Clock::time_point now) {
  if (!out.empty()) {
    AppendSpill(ctx, IntoLeg(), out);
    SendNext(ctx, IntoLeg());
  }
  switch (progress.state) {
    case LegSetupState::kContinue:
      if (phase_ != Phase::kSetup) {
        ResetForLegFailure(ctx, CloseReason::kSetupFailed, "leg asked to continue after setup");
        return;
      }
      MaybeReceive(ctx, leg_side_);
      return;
    case LegSetupState::kNeedDecision:
      if (leg_side_ != 0 || phase_ != Phase::kSetup) {
        ResetForLegFailure(ctx, CloseReason::kSetupFailed, "unexpected kNeedDecision");
        return;
      }
      Decide(ctx, now);
      return;
    case LegSetupState::kReady:
      phase_ = Phase::kFlush;
      break;
    case LegSetupState::kFailed:
      spdlog::debug("proxy: connection {} leg setup failed: {}", id_, progress.reason);
      phase_ = Phase::kFailing;
      break;
  }
  if (dir_[IntoLeg()].spill.empty()) OnLegOutputFlushed(ctx, now);
}

void Connection::Decide(RelayContext& ctx, Clock::time_point now) {
  Decision decision = ctx.handler.OnLegRequest(accepted_, leg_->request(), *info_);
  auto* plan = std::get_if<ForwardPlan>(&decision);
  if (plan != nullptr && plan->upstream.valid() && plan->upstream_leg == nullptr) {
    socket_[1] = std::move(plan->upstream);
    target_ = plan->target;
    if (plan->info != nullptr) info_ = std::move(plan->info);
    phase_ = Phase::kAwaitUpstream;
    connecting_ = true;
    StartConnect(ctx);
    return;
  }
  if (auto* l7 = std::get_if<L7Plan>(&decision); l7 != nullptr && l7->session != nullptr) {
    // The session reads this leg's plaintext: it sits behind a socketpair, which is connected
    // at once, so the request is accepted without a connect.
    if (l7->info != nullptr) info_ = l7->info;
    auto joined = ctx.spawner.SpawnInternal(std::move(decision), accepted_);
    if (!joined.ok()) {
      Refuse(ctx, LegRefusal::kUnavailable, "cannot start the HTTP session: " + joined.error().Message(), now);
      return;
    }
    socket_[1] = std::move(joined).value();
    phase_ = Phase::kAwaitUpstream;
    connecting_ = true;
    OnLegConnect(ctx, 0, now);
    return;
  }
  ctx.counters.denied.Add();
  if (auto* deny = std::get_if<DenyPlan>(&decision)) {
    Refuse(ctx, deny->refusal, deny->reason, now);
  } else {
    spdlog::warn("proxy: OnLegRequest returned an unusable plan (no upstream socket, a second "
                 "leg, an L7Plan without a session, or AcceptLegPlan); refusing");
    Refuse(ctx, LegRefusal::kForbidden, "no usable plan", now);
  }
}

void Connection::Refuse(RelayContext& ctx, LegRefusal refusal, std::string_view reason,
                        Clock::time_point now) {
  std::vector<uint8_t> out;
  (void)leg_->Refuse(refusal, reason, &out);  // always kFailed: the connection ends either way
  ReleaseSetupSlot(ctx);
  phase_ = Phase::kRefusing;
  refused_at_ = now;
  if (!out.empty()) {
    AppendSpill(ctx, IntoLeg(), out);
    SendNext(ctx, IntoLeg());
  }
  if (dir_[IntoLeg()].spill.empty()) OnLegOutputFlushed(ctx, now);
}

void Connection::OnLegOutputFlushed(RelayContext& ctx, Clock::time_point now) {
  switch (phase_) {
    case Phase::kFlush: EnterDataPhase(ctx, now); return;
    case Phase::kFailing: BeginClose(ctx, CloseReason::kSetupFailed); return;
    case Phase::kRefusing:
      // The response is in the socket: FIN after it, then read (and drop) until the peer
      // closes, so a close with unread bytes does not reset the response away.
      if (!dir_[IntoLeg()].write_shut) {
        (void)::shutdown(LegSocket(), SHUT_WR);
        dir_[IntoLeg()].write_shut = true;
        MaybeReceive(ctx, leg_side_);
      }
      return;
    default: return;
  }
}

void Connection::EnterDataPhase(RelayContext& ctx, Clock::time_point now) {
  ReleaseSetupSlot(ctx);
  std::vector<uint8_t> early = leg_->TakeEarlyPlaintext();
  Result<bool> offloaded = leg_->OffloadToKernel(LegSocket());
  if (!offloaded.ok()) {
    ResetForLegFailure(ctx, CloseReason::kSetupFailed, offloaded.error().Message());
    return;
  }
  phase_ = Phase::kRelay;
  last_activity_ = now;
  if (*offloaded) {
    ctx.counters.legs_ktls.Add();
  } else {
    ctx.counters.legs_userspace.Add();
    dir_[leg_side_].transform = Transform::kUnprotect;
    dir_[IntoLeg()].transform = Transform::kProtect;
  }
  if (leg_->resumed()) ctx.counters.legs_resumed.Add();
  if (!early.empty()) {  // relayed before anything else the leg's peer sends
    AppendSpill(ctx, leg_side_, early);
    SendNext(ctx, leg_side_);
  }
  MaybeReceive(ctx, 0);
  MaybeReceive(ctx, 1);
}

void Connection::OnLegRecv(RelayContext& ctx, int d, int res, std::span<const uint8_t> data,
                           Clock::time_point now) {
  switch (phase_) {
    case Phase::kSetup: OnSetupRecv(ctx, res, data, now); return;
    case Phase::kRefusing:
      if (res > 0) {
        MaybeReceive(ctx, d);
      } else {
        CloseWith(ctx, CloseReason::kSetupFailed, BufferedBytes() > 0);
      }
      return;
    case Phase::kRelay:
      if (res > 0) {
        OnTransformRecv(ctx, d, data, now);
      } else if (res == 0 && dir_[d].transform == Transform::kProtect) {
        dir_[d].eof = true;
        if (first_eof_ == Clock::time_point{}) first_eof_ = now;
        MaybeShutdown(ctx, d, now);
      } else {
        // An EOF on the leg socket without close_notify is a truncation: never pass it on as
        // a clean end of the stream.
        BeginClose(ctx, ResetBy(d));
      }
      return;
    default:  // no receive is armed in the other phases
      ResetForLegFailure(ctx, CloseReason::kSetupFailed, "receive completed in an idle phase");
      return;
  }
}

void Connection::OnSetupRecv(RelayContext& ctx, int res, std::span<const uint8_t> data,
                             Clock::time_point now) {
  if (res <= 0) {
    ResetForLegFailure(ctx, CloseReason::kSetupFailed,
                       res == 0 ? "peer closed during setup" : "receive failed during setup");
    return;
  }
  std::vector<uint8_t> out;
  LegProgress progress = leg_->OnSetupBytes(data, &out);
  HandleProgress(ctx, progress, out, now);
}

void Connection::OnTransformRecv(RelayContext& ctx, int d, std::span<const uint8_t> data,
                                 Clock::time_point now) {
  Direction& dir = dir_[d];
  Direction& back = dir_[1 - d];
  last_activity_ = now;
  size_t before = dir.spill.queued.size();
  size_t back_before = back.spill.queued.size();
  bool ok = true;
  bool peer_closed = false;
  std::string error;
  if (dir.transform == Transform::kProtect) {
    Result<void> protected_ = leg_->Protect(data, &dir.spill.Queue(ctx.spill_pool));
    if (!protected_.ok()) error = protected_.error().Message();
    ok = protected_.ok();
  } else {
    // Protocol answers (e.g. key updates) go back to the leg socket, unless it is finished.
    std::vector<uint8_t> dropped;
    bool can_answer = !leg_finished_ && !back.write_shut;
    // Answers are rare: `back` keeps no pooled buffer for them (it would idle in the spill).
    auto unprotected = leg_->Unprotect(data, &dir.spill.Queue(ctx.spill_pool), can_answer ? &back.spill.queued : &dropped);
    if (!unprotected.ok()) error = unprotected.error().Message();
    ok = unprotected.ok();
    peer_closed = ok && unprotected->peer_closed;
  }
  // Account whatever was appended, even on failure: Release subtracts every spilled byte.
  ctx.counters.buffered_bytes.Add(dir.spill.queued.size() - before);
  ctx.counters.buffered_bytes.Add(back.spill.queued.size() - back_before);
  if (!ok) {
    ResetForLegFailure(ctx, ResetBy(leg_side_), error);
    return;
  }
  SendNext(ctx, d);
  if (back.spill.queued.size() != back_before) SendNext(ctx, 1 - d);
  if (peer_closed) {
    dir.eof = true;
    if (first_eof_ == Clock::time_point{}) first_eof_ = now;
  }
  MaybeReceive(ctx, d);
  MaybeShutdown(ctx, d, now);
}

void Connection::OnKernelRecord(RelayContext& ctx, int d, Clock::time_point now) {
  if (ctx.record_scratch.size() < kRecordScratchBytes) ctx.record_scratch.resize(kRecordScratchBytes);
  Result<KernelRecordResult> record = leg_->ReadKernelRecord(socket_[d].get(), ctx.record_scratch);
  if (!record.ok()) {
    ResetForLegFailure(ctx, ResetBy(d), record.error().Message());
    return;
  }
  switch (record->kind) {
    case KernelRecordResult::Kind::kData:
      last_activity_ = now;
      AppendSpill(ctx, d, {ctx.record_scratch.data(), record->bytes});
      SendNext(ctx, d);
      break;
    case KernelRecordResult::Kind::kSkipped: break;
    case KernelRecordResult::Kind::kPeerClosed:
      dir_[d].eof = true;
      if (first_eof_ == Clock::time_point{}) first_eof_ = now;
      MaybeShutdown(ctx, d, now);
      return;
  }
  MaybeReceive(ctx, d);  // after kData, only once the record's bytes are sent
}

bool Connection::FinishLeg(RelayContext& ctx) {
  if (leg_finished_) return true;
  leg_finished_ = true;
  bool user_space = dir_[IntoLeg()].transform == Transform::kProtect;
  std::vector<uint8_t> out;
  Result<void> finished = leg_->Finish(LegSocket(), user_space ? &out : nullptr);
  if (!finished.ok()) {
    ResetForLegFailure(ctx, ResetBy(leg_side_), finished.error().Message());
    return false;
  }
  if (out.empty()) return true;
  AppendSpill(ctx, IntoLeg(), out);
  SendNext(ctx, IntoLeg());
  return false;  // MaybeShutdown runs again once close_notify is sent
}

void Connection::CheckLegTimeouts(RelayContext& ctx, Clock::time_point now) {
  if (phase_ == Phase::kRefusing) {
    if (now - refused_at_ >= std::min(ctx.options.setup_timeout, kRefusalDrain)) {
      CloseWith(ctx, CloseReason::kSetupFailed, BufferedBytes() > 0);
    }
    return;
  }
  // setup_started_ is unset while an initiator connects (bounded by connect_timeout).
  if (setup_started_ != Clock::time_point{} && now - setup_started_ >= ctx.options.setup_timeout) {
    ResetForLegFailure(ctx, CloseReason::kSetupFailed, "setup timed out");
  }
}

void Connection::ReleaseSetupSlot(RelayContext& ctx) {
  if (!holds_setup_slot_) return;
  holds_setup_slot_ = false;
  ctx.shared.ReleaseSetup();
}

void Connection::ResetForLegFailure(RelayContext& ctx, CloseReason reason, std::string_view why) {
  spdlog::debug("proxy: connection {} ({}): {}", id_, CloseReasonName(reason), why);
  BeginClose(ctx, reason);
}

}  // namespace ferry::proxy
