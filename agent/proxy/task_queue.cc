#include "agent/proxy/task_queue.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <utility>

namespace ferry::proxy {

Result<std::unique_ptr<TaskQueue>> TaskQueue::Create() {
  std::unique_ptr<TaskQueue> queue(new TaskQueue());
  queue->eventfd_.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!queue->eventfd_) return ErrnoError("eventfd for worker tasks");
  return queue;
}

bool TaskQueue::PostLocked(Task task) {
  if (closed_) return false;
  tasks_.push_back(std::move(task));
  uint64_t one = 1;
  // Non-blocking; EAGAIN means the counter is saturated, so the worker is being woken anyway.
  (void)::write(eventfd_.get(), &one, sizeof(one));
  return true;
}

bool TaskQueue::Post(Task task) {
  std::lock_guard lock(mutex_);
  return PostLocked(std::move(task));
}

bool TaskQueue::PostLastAndClose(Task last) {
  std::lock_guard lock(mutex_);
  bool posted = PostLocked(std::move(last));
  closed_ = true;
  return posted;
}

std::vector<TaskQueue::Task> TaskQueue::TakeAll() {
  std::lock_guard lock(mutex_);
  return std::exchange(tasks_, {});
}

}  // namespace ferry::proxy
