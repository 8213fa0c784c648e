// Cross-thread tasks for a worker: any thread posts a closure and pokes an eventfd; the worker's
// ring has a read armed on that eventfd and runs the closures on its own thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace ferry::proxy {

class TaskQueue {
 public:
  using Task = std::function<void()>;

  static Result<std::unique_ptr<TaskQueue>> Create();

  // False once Close() was called: the task will never run.
  bool Post(Task task);
  // Posts `last` and refuses every later task, atomically.
  bool PostLastAndClose(Task last);
  std::vector<Task> TakeAll();
  int eventfd() const { return eventfd_.get(); }

 private:
  TaskQueue() = default;
  bool PostLocked(Task task);

  UniqueFd eventfd_;
  std::mutex mutex_;
  std::vector<Task> tasks_;
  bool closed_ = false;
};

}  // namespace ferry::proxy
