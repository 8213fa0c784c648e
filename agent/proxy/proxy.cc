#include "agent/proxy/proxy.h"

#include <sys/socket.h>

#include <future>
#include <thread>

#include "agent/proxy/worker.h"

namespace ferry::proxy {

namespace {

Result<void> ValidateOptions(const ProxyOptions& options) {
  if (options.max_connections == 0) return MakeError("max_connections must be positive");
  if (options.connect_timeout.count() <= 0 || options.idle_timeout.count() <= 0 ||
      options.half_close_timeout.count() <= 0 || options.setup_timeout.count() <= 0) {
    return MakeError("proxy timeouts must be positive");
  }
  if (options.max_concurrent_setups == 0) return MakeError("max_concurrent_setups must be positive");
  if (options.keepalive_idle.count() <= 0 || options.keepalive_interval.count() <= 0 ||
      options.keepalive_count <= 0) {
    return MakeError("keepalive settings must be positive");
  }
  return Ok();
}

}  // namespace

Result<std::unique_ptr<Proxy>> Proxy::Create(const ProxyOptions& options, ConnectionHandler* handler) {
  FERRY_TRY(ValidateOptions(options));
  if (handler == nullptr) return MakeError("proxy needs a ConnectionHandler");
  std::unique_ptr<Proxy> proxy(new Proxy());
  proxy->shared_ = std::make_shared<SharedState>();
  proxy->shared_->max_connections = options.max_connections;
  proxy->shared_->max_setups = options.max_concurrent_setups;
  unsigned count = options.workers != 0 ? options.workers : std::thread::hardware_concurrency();
  if (count == 0) count = 1;
  for (unsigned i = 0; i < count; ++i) {
    auto worker = Worker::Create(i, options, handler, proxy->shared_);
    if (!worker) return worker.error();
    proxy->workers_.push_back(std::move(worker).value());
  }
  for (auto& worker : proxy->workers_) worker->Start();
  return proxy;
}

Proxy::~Proxy() { Stop(); }

Result<uint64_t> Proxy::AddListener(UniqueFd listening_socket) {
  int accepting = 0;
  socklen_t len = sizeof(accepting);
  if (getsockopt(listening_socket.get(), SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) < 0) {
    return ErrnoError("AddListener: not a socket");
  }
  if (!accepting) return MakeError("AddListener: socket is not listening");
  std::lock_guard lock(mutex_);
  if (stopped_) return MakeError("AddListener: proxy is stopped");
  uint64_t id = next_listener_id_++;
  Worker* worker = workers_[next_worker_++ % workers_.size()].get();
  // std::function needs a copyable closure; the fd travels in a shared holder.
  auto fd = std::make_shared<UniqueFd>(std::move(listening_socket));
  if (!worker->Post([worker, id, fd] { worker->AddListener(id, std::move(*fd)); })) {
    return MakeError("AddListener: worker is stopping");
  }
  listener_owner_[id] = worker;
  return id;
}

void Proxy::RemoveListener(uint64_t listener_id) {
  std::lock_guard lock(mutex_);
  auto it = listener_owner_.find(listener_id);
  if (it == listener_owner_.end()) return;
  Worker* worker = it->second;
  listener_owner_.erase(it);
  (void)worker->Post([worker, listener_id] { worker->RemoveListener(listener_id); });
}

size_t Proxy::AbortConnectionsWhere(std::function<bool(const ConnectionInfo&)> should_abort) {
  std::vector<std::future<size_t>> results;
  {
    std::lock_guard lock(mutex_);
    for (auto& worker : workers_) {
      auto promise = std::make_shared<std::promise<size_t>>();
      results.push_back(promise->get_future());
      Worker* w = worker.get();
      if (!w->Post([w, promise, &should_abort] { promise->set_value(w->AbortWhere(should_abort)); })) {
        promise->set_value(0);
      }
    }
  }
  size_t total = 0;
  for (auto& result : results) total += result.get();
  return total;
}

std::vector<LiveConnection> Proxy::ListConnections() {
  std::vector<std::future<std::vector<LiveConnection>>> results;
  {
    std::lock_guard lock(mutex_);
    for (auto& worker : workers_) {
      auto promise = std::make_shared<std::promise<std::vector<LiveConnection>>>();
      results.push_back(promise->get_future());
      Worker* w = worker.get();
      if (!w->Post([w, promise] {
            std::vector<LiveConnection> live;
            w->AppendLive(live);
            promise->set_value(std::move(live));
          })) {
        promise->set_value({});
      }
    }
  }
  std::vector<LiveConnection> all;
  for (auto& result : results) {
    auto part = result.get();
    all.insert(all.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  }
  return all;
}

ProxyStats Proxy::Stats() const {
  ProxyStats stats;
  for (const auto& worker : workers_) worker->counters().AddTo(stats);
  stats.active = shared_->active.load();
  stats.setups_active = shared_->setups.load();
  return stats;
}

void Proxy::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    listener_owner_.clear();
  }
  // Outside the lock: a handler callback running on a worker may call into the Proxy.
  for (auto& worker : workers_) worker->StopAndJoin();
}

}  // namespace ferry::proxy
