#include "agent/proxy/worker.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "agent/proxy/l7_connection.h"
#include "agent/proxy/socket_ops.h"
#include "agent/proxy/user_data.h"

namespace ferry::proxy {

namespace {

constexpr unsigned kRingEntries = 4096;
constexpr uint16_t kBufferGroup = 0;

// The sweep for idle / half-close timeouts runs a few times per shortest timeout.
std::chrono::milliseconds TickPeriod(const ProxyOptions& options) {
  auto shortest = std::min({options.idle_timeout, options.half_close_timeout, options.setup_timeout});
  return std::clamp(shortest / 4, std::chrono::milliseconds(5), std::chrono::milliseconds(1000));
}

void ResetAndClose(UniqueFd fd) {
  ArmResetOnClose(fd.get());
  fd.Reset();
}

}  // namespace

Worker::Worker(const ProxyOptions& options, ConnectionHandler* handler,
               std::shared_ptr<SharedState> shared)
    : options_(options), handler_(handler), shared_(std::move(shared)) {}

Worker::~Worker() { StopAndJoin(); }

Result<std::unique_ptr<Worker>> Worker::Create(unsigned index, const ProxyOptions& options,
                                               ConnectionHandler* handler,
                                               std::shared_ptr<SharedState> shared) {
  std::unique_ptr<Worker> worker(new Worker(options, handler, std::move(shared)));
  auto ring = IoRing::Create(kRingEntries);
  if (!ring) return ring.error();
  worker->ring_ = std::move(ring).value();
  // Sockets are pollable, so the relay itself never needs io-wq; the cap keeps any punted
  // request from growing kernel threads with the connection count.
  auto limited = worker->ring_->LimitKernelWorkers(options.max_iowq_workers, options.max_iowq_workers);
  if (!limited) spdlog::warn("proxy worker {}: {}", index, limited.error().Message());
  auto buffers = BufferRing::Create(*worker->ring_, kBufferGroup, options.buffers_per_worker,
                                    options.buffer_size);
  if (!buffers) return buffers.error();
  worker->buffers_ = std::move(buffers).value();
  auto tasks = TaskQueue::Create();
  if (!tasks) return tasks.error();
  worker->tasks_ = std::move(tasks).value();
  auto tick = TickPeriod(options);
  worker->tick_.tv_sec = tick.count() / 1000;
  worker->tick_.tv_nsec = (tick.count() % 1000) * 1000000;
  return worker;
}

void Worker::Start() {
  FERRY_ASSERT(!thread_.joinable());
  thread_ = std::thread([this] { Run(); });
}

void Worker::StopAndJoin() {
  if (!thread_.joinable()) return;
  tasks_->PostLastAndClose([this] { BeginStop(); });
  thread_.join();
}

RelayContext Worker::Context() {
  return RelayContext{*ring_,   *buffers_, options_,        counters_,   buffer_waiters_,
                      *shared_, *handler_, record_scratch_, spill_pool_, *this};
}

bool Worker::Done() const {
  return stopping_ && connections_.empty() && listeners_.empty() && internal_inflight_ == 0;
}

void Worker::Run() {
  auto enabled = ring_->EnableOnThisThread();
  FERRY_ASSERT(enabled.ok());  // only a kernel bug refuses to enable a ring it just created
  ArmWake();
  ArmTimer();
  constexpr unsigned kBatch = 256;
  io_uring_cqe* cqes[kBatch];
  struct Completion {
    uint64_t user_data;
    int res;
    uint32_t flags;
  };
  std::vector<Completion> batch;
  batch.reserve(kBatch);
  while (!Done()) {
    auto waited = ring_->SubmitAndWait();
    FERRY_ASSERT(waited.ok());  // only EFAULT-class errors get here: a broken ring
    unsigned n = io_uring_peek_batch_cqe(ring_->raw(), cqes, kBatch);
    batch.clear();
    for (unsigned i = 0; i < n; ++i) batch.push_back({cqes[i]->user_data, cqes[i]->res, cqes[i]->flags});
    // Copied out first: handlers submit, and the completion slots must be free to reuse.
    io_uring_cq_advance(ring_->raw(), n);
    for (const Completion& c : batch) Dispatch(c.user_data, c.res, c.flags);
    ResumeBufferWaiters();
  }
}

void Worker::Dispatch(uint64_t user_data, int res, uint32_t flags) {
  uint64_t id = UserDataId(user_data);
  Op op = UserDataOp(user_data);
  switch (op) {
    case Op::kWake: OnWake(res); return;
    case Op::kTimer: OnTimer(res); return;
    case Op::kAccept: OnAccept(id, res, flags); return;
    case Op::kCancelListener:
    case Op::kCancelInternal: --internal_inflight_; return;
    default: break;
  }
  auto it = connections_.find(id);
  FERRY_ASSERT(it != connections_.end());  // a connection lives until its last completion
  RelayContext ctx = Context();
  it->second->OnCompletion(ctx, op, res, flags, Clock::now());
  if (it->second->finished()) Finalize(it);
  AdoptSpawned();
}

void Worker::AdoptSpawned() {
  while (!spawned_.empty()) {
    auto batch = std::move(spawned_);
    spawned_.clear();
    for (auto& [id, relay] : batch) {
      auto it = connections_.emplace(id, std::move(relay)).first;
      if (it->second->finished()) Finalize(it);
    }
  }
}

void Worker::ArmWake() {
  io_uring_sqe* sqe = ring_->GetSqe();
  io_uring_prep_read(sqe, tasks_->eventfd(), &wake_value_, sizeof(wake_value_), 0);
  io_uring_sqe_set_data64(sqe, PackUserData(Op::kWake, 0));
  wake_armed_ = true;
  ++internal_inflight_;
}

void Worker::OnWake(int res) {
  --internal_inflight_;
  wake_armed_ = false;
  (void)res;  // the eventfd count does not matter: the queue is drained either way
  for (auto& task : tasks_->TakeAll()) task();
  if (!stopping_) ArmWake();
}

void Worker::ArmTimer() {
  io_uring_sqe* sqe = ring_->GetSqe();
  io_uring_prep_timeout(sqe, &tick_, 0, 0);
  io_uring_sqe_set_data64(sqe, PackUserData(Op::kTimer, 0));
  timer_armed_ = true;
  ++internal_inflight_;
}

void Worker::OnTimer(int /*res*/) {
  --internal_inflight_;
  timer_armed_ = false;
  if (stopping_) return;
  ArmTimer();
  auto now = Clock::now();
  RelayContext ctx = Context();
  for (auto it = connections_.begin(); it != connections_.end();) {
    auto next = std::next(it);
    it->second->CheckTimeouts(ctx, now);
    if (it->second->finished()) Finalize(it);
    it = next;
  }
  if (rearm_accepts_on_tick_) {
    rearm_accepts_on_tick_ = false;
    for (auto& [id, listener] : listeners_) {
      if (!listener.accept_armed && !listener.removing) ArmAccept(id, listener);
    }
  }
}

void Worker::AddListener(uint64_t listener_id, UniqueFd fd) {
  if (stopping_) return;  // the fd closes here
  auto [it, inserted] = listeners_.emplace(listener_id, Listener{std::move(fd)});
  FERRY_ASSERT(inserted);
  ArmAccept(listener_id, it->second);
}

void Worker::ArmAccept(uint64_t listener_id, Listener& listener) {
  io_uring_sqe* sqe = ring_->GetSqe();
  io_uring_prep_multishot_accept(sqe, listener.fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, PackUserData(Op::kAccept, listener_id));
  listener.accept_armed = true;
}

void Worker::RemoveListener(uint64_t listener_id) {
  auto it = listeners_.find(listener_id);
  if (it == listeners_.end() || it->second.removing) return;
  it->second.removing = true;
  if (!it->second.accept_armed) {
    listeners_.erase(it);
    return;
  }
  // The accept's final completion (without IORING_CQE_F_MORE) erases the listener.
  io_uring_sqe* sqe = ring_->GetSqe();
  io_uring_prep_cancel64(sqe, PackUserData(Op::kAccept, listener_id), 0);
  io_uring_sqe_set_data64(sqe, PackUserData(Op::kCancelListener, listener_id));
  ++internal_inflight_;
}

void Worker::OnAccept(uint64_t listener_id, int res, uint32_t flags) {
  auto it = listeners_.find(listener_id);
  FERRY_ASSERT(it != listeners_.end());
  Listener& listener = it->second;
  if (res >= 0) {
    UniqueFd client(res);
    if (listener.removing || stopping_) {
      ResetAndClose(std::move(client));
    } else {
      HandleAccepted(std::move(client), listener_id);
    }
  }
  if (flags & IORING_CQE_F_MORE) return;
  listener.accept_armed = false;
  if (listener.removing || stopping_) {
    listeners_.erase(it);
  } else if (res >= 0) {
    ArmAccept(listener_id, listener);  // multishot ended without error (e.g. CQ was full)
  } else {
    // EMFILE and friends: re-arming at once would spin; retry on the next tick.
    spdlog::warn("proxy: accept on listener {} failed: {}", listener_id, MakeError("", -res).Message());
    rearm_accepts_on_tick_ = true;
  }
}

void Worker::HandleAccepted(UniqueFd client, uint64_t listener_id) {
  counters_.accepted.Add();
  if (shared_->active.fetch_add(1) >= shared_->max_connections) {
    shared_->active.fetch_sub(1);
    counters_.refused_over_limit.Add();
    ResetAndClose(std::move(client));
    return;
  }
  auto peer = PeerEndpoint(client.get());
  auto local = LocalEndpoint(client.get());
  if (!peer || !local) {  // the client already went away
    shared_->active.fetch_sub(1);
    ResetAndClose(std::move(client));
    return;
  }
  AcceptedConnection accepted{client.get(), *peer, *local, listener_id};
  Decision decision = handler_->OnAccept(accepted);
  uint64_t id = next_connection_id_;
  std::unique_ptr<Relay> relay = StartRelay(client, accepted, decision);
  if (relay == nullptr) {
    shared_->active.fetch_sub(1);
    ResetAndClose(std::move(client));
    return;
  }
  auto it = connections_.emplace(id, std::move(relay)).first;
  if (it->second->finished()) Finalize(it);  // an acceptor may fail at once
}

std::unique_ptr<Relay> Worker::StartRelay(UniqueFd& client, const AcceptedConnection& accepted,
                                          Decision& decision) {
  auto* forward = std::get_if<ForwardPlan>(&decision);
  auto* accept_leg = std::get_if<AcceptLegPlan>(&decision);
  auto* l7 = std::get_if<L7Plan>(&decision);
  bool usable = forward != nullptr      ? forward->upstream.valid()
                : accept_leg != nullptr ? accept_leg->leg != nullptr
                                        : l7 != nullptr && l7->session != nullptr;
  if (!usable) {
    counters_.denied.Add();
    return nullptr;
  }
  // A leg holds a setup slot from here until its data phase (or its close).
  bool has_leg = accept_leg != nullptr || (forward != nullptr && forward->upstream_leg != nullptr);
  if (has_leg && !shared_->TryTakeSetup()) {
    counters_.setups_refused_over_limit.Add();
    return nullptr;
  }
  uint64_t id = next_connection_id_++;
  auto now = Clock::now();
  RelayContext ctx = Context();
  if (forward != nullptr) {
    auto conn = std::make_unique<Connection>(id, std::move(client), accepted, std::move(*forward), now);
    conn->StartConnect(ctx);
    return conn;
  }
  if (accept_leg != nullptr) {
    auto conn = std::make_unique<Connection>(id, std::move(client), accepted, std::move(*accept_leg), now);
    conn->StartAcceptor(ctx, now);
    return conn;
  }
  auto conn = std::make_unique<L7Connection>(id, std::move(client), accepted, std::move(*l7), now);
  conn->Start(ctx);
  return conn;
}

Result<UniqueFd> Worker::SpawnInternal(Decision decision, const AcceptedConnection& origin) {
  if (auto* deny = std::get_if<DenyPlan>(&decision)) return MakeError(deny->reason);
  if (stopping_) return MakeError("the proxy is stopping");
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return ErrnoError("socketpair");
  UniqueFd ours(fds[0]);
  UniqueFd theirs(fds[1]);
  if (shared_->active.fetch_add(1) >= shared_->max_connections) {
    shared_->active.fetch_sub(1);
    counters_.refused_over_limit.Add();
    return MakeError("connection limit reached");
  }
  AcceptedConnection accepted = origin;
  accepted.fd = theirs.get();
  uint64_t id = next_connection_id_;
  std::unique_ptr<Relay> relay = StartRelay(theirs, accepted, decision);
  if (relay == nullptr) {
    shared_->active.fetch_sub(1);
    return MakeError("the upstream plan is unusable or the setup limit is reached");
  }
  spawned_.emplace_back(id, std::move(relay));
  return ours;
}

void Worker::ResumeBufferWaiters() {
  // Only when the ring has all its buffers: while it is still growing, a burst can outrun it.
  if (!buffer_waiters_.empty() && !warned_buffers_exhausted_ &&
      buffers_->provided() == options_.buffers_per_worker) {
    warned_buffers_exhausted_ = true;
    spdlog::warn("proxy: all {} buffers of a worker are holding data; receives wait for a free one "
                 "(counted in enobufs; consider raising buffers_per_worker)", options_.buffers_per_worker);
  }
  RelayContext ctx = Context();
  while (!buffer_waiters_.empty() && buffers_->available() > 0) {
    auto [id, direction] = buffer_waiters_.front();
    buffer_waiters_.pop_front();
    auto it = connections_.find(id);
    if (it == connections_.end() || it->second->closing()) continue;
    it->second->RetryReceive(ctx, direction);
  }
}

void Worker::Finalize(RelayMap::iterator it) {
  RelayContext ctx = Context();
  ConnectionStats stats = it->second->Release(ctx, Clock::now());
  handler_->OnClosed(it->second->info(), stats);
  connections_.erase(it);
  shared_->active.fetch_sub(1);
}

size_t Worker::AbortWhere(const std::function<bool(const ConnectionInfo&)>& should_abort) {
  size_t aborted = 0;
  RelayContext ctx = Context();
  for (auto it = connections_.begin(); it != connections_.end();) {
    auto next = std::next(it);
    Relay& conn = *it->second;
    if (!conn.closing() && should_abort(conn.info())) {
      conn.BeginClose(ctx, CloseReason::kAborted);
      ++aborted;
      if (conn.finished()) Finalize(it);
    }
    it = next;
  }
  return aborted;
}

void Worker::AppendLive(std::vector<LiveConnection>& out) {
  auto now = Clock::now();
  for (const auto& [id, conn] : connections_) {
    if (!conn->closing()) out.push_back(conn->Snapshot(now));
  }
}

void Worker::CancelInternal(Op op) {
  io_uring_sqe* sqe = ring_->GetSqe();
  io_uring_prep_cancel64(sqe, PackUserData(op, 0), 0);
  io_uring_sqe_set_data64(sqe, PackUserData(Op::kCancelInternal, 0));
  ++internal_inflight_;
}

void Worker::BeginStop() {
  stopping_ = true;
  std::vector<uint64_t> listener_ids;
  for (const auto& [id, listener] : listeners_) listener_ids.push_back(id);
  for (uint64_t id : listener_ids) RemoveListener(id);
  RelayContext ctx = Context();
  for (auto it = connections_.begin(); it != connections_.end();) {
    auto next = std::next(it);
    it->second->BeginClose(ctx, CloseReason::kShutdown);
    if (it->second->finished()) Finalize(it);
    it = next;
  }
  // The wake read is re-armed only when not stopping; this runs inside OnWake's task loop.
  if (timer_armed_) CancelInternal(Op::kTimer);
  if (wake_armed_) CancelInternal(Op::kWake);
}

}  // namespace ferry::proxy
