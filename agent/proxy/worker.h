// One event-loop thread with its own io_uring, provided-buffer ring and connections. Listeners
// accept on it (multishot) and every connection they produce stays on it until closed.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "agent/proxy/buffer_ring.h"
#include "agent/proxy/connection.h"
#include "agent/proxy/relay.h"
#include "agent/proxy/io_ring.h"
#include "agent/proxy/proxy_types.h"
#include "agent/proxy/shared_state.h"
#include "agent/proxy/task_queue.h"
#include "agent/proxy/worker_counters.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace ferry::proxy {

class Worker final : public Spawner {
 public:
  static Result<std::unique_ptr<Worker>> Create(unsigned index, const ProxyOptions& options,
                                                ConnectionHandler* handler,
                                                std::shared_ptr<SharedState> shared);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void Start();
  // Runs `task` on the worker thread; false when the worker is stopping.
  bool Post(TaskQueue::Task task) { return tasks_->Post(std::move(task)); }
  // Resets every connection, closes listeners, and returns once the thread has exited.
  void StopAndJoin();
  const WorkerCounters& counters() const { return counters_; }

  // The following run on the worker thread only (through Post).
  void AddListener(uint64_t listener_id, UniqueFd fd);
  void RemoveListener(uint64_t listener_id);
  size_t AbortWhere(const std::function<bool(const ConnectionInfo&)>& should_abort);
  void AppendLive(std::vector<LiveConnection>& out);
  // Spawner, on the worker thread: the relay starts now and joins the map after the completion
  // being handled (the map must not change under a caller that holds an iterator).
  Result<UniqueFd> SpawnInternal(Decision decision, const AcceptedConnection& origin) override;

 private:
  struct Listener {
    UniqueFd fd;
    bool accept_armed = false;
    bool removing = false;
  };

  Worker(const ProxyOptions& options, ConnectionHandler* handler,
         std::shared_ptr<SharedState> shared);
  void Run();
  bool Done() const;
  void Dispatch(uint64_t user_data, int res, uint32_t flags);
  void OnWake(int res);
  void OnTimer(int res);
  void OnAccept(uint64_t listener_id, int res, uint32_t flags);
  void HandleAccepted(UniqueFd client, uint64_t listener_id);
  void ArmAccept(uint64_t listener_id, Listener& listener);
  void ArmWake();
  void ArmTimer();
  void CancelInternal(Op op);
  void BeginStop();
  void ResumeBufferWaiters();
  void FinalizeIfFinished(uint64_t connection_id);
  using RelayMap = std::unordered_map<uint64_t, std::unique_ptr<Relay>>;
  void Finalize(RelayMap::iterator it);
  // Starts a relay for `decision` on `client`; null (client reset) when the decision is unusable or
  // a limit is reached.
  std::unique_ptr<Relay> StartRelay(UniqueFd& client, const AcceptedConnection& accepted, Decision& decision);
  void AdoptSpawned();
  RelayContext Context();

  ProxyOptions options_;
  ConnectionHandler* handler_;
  std::shared_ptr<SharedState> shared_;
  std::unique_ptr<IoRing> ring_;             // destroyed last: the buffer ring unregisters on it
  std::unique_ptr<BufferRing> buffers_;
  std::unique_ptr<TaskQueue> tasks_;
  WorkerCounters counters_;
  std::unordered_map<uint64_t, Listener> listeners_;
  RelayMap connections_;
  std::vector<std::pair<uint64_t, std::unique_ptr<Relay>>> spawned_;  // joins connections_ next
  std::deque<std::pair<uint64_t, int>> buffer_waiters_;
  std::vector<uint8_t> record_scratch_;  // for kTLS control records; sized on first use
  SpillBufferPool spill_pool_;
  uint64_t next_connection_id_ = 1;
  uint64_t wake_value_ = 0;        // eventfd read target; must outlive the read request
  __kernel_timespec tick_{};       // timer period; must outlive the timeout submission
  unsigned internal_inflight_ = 0;  // wake read, timer and cancels of those
  bool wake_armed_ = false;
  bool timer_armed_ = false;
  bool stopping_ = false;
  bool rearm_accepts_on_tick_ = false;
  bool warned_buffers_exhausted_ = false;  // warn once per worker, count every time
  std::thread thread_;
};

}  // namespace ferry::proxy
