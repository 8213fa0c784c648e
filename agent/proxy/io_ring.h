// RAII owner of one io_uring instance. Not thread-safe: one ring per worker thread, which
// calls EnableOnThisThread() before its first submission.
#pragma once

#include <liburing.h>

#include <memory>

#include "common/result.h"

namespace ferry::proxy {

class IoRing {
 public:
  // Fails with a message that names io_uring when the kernel refuses it (disabled, too old).
  // Registrations (buffers, worker limits) may be made from the creating thread until the
  // ring is enabled.
  static Result<std::unique_ptr<IoRing>> Create(unsigned entries);
  ~IoRing();
  IoRing(const IoRing&) = delete;
  IoRing& operator=(const IoRing&) = delete;

  // Never null: submits queued entries to make room when the submission queue is full.
  io_uring_sqe* GetSqe();
  // Submits queued entries if fewer than `count` free entries remain (for linked requests).
  void ReserveSqes(unsigned count);
  // Binds the ring to the calling thread, the only one that may submit from now on.
  Result<void> EnableOnThisThread();
  // Submits queued entries and waits for at least one completion (running the completions'
  // deferred work, when the ring defers it).
  Result<void> SubmitAndWait();
  // Caps io-wq's kernel threads: splice and other non-pollable work is punted there.
  Result<void> LimitKernelWorkers(unsigned bounded, unsigned unbounded);

  io_uring* raw() { return &ring_; }

 private:
  IoRing() = default;
  io_uring ring_{};
  bool disabled_ = false;  // created with IORING_SETUP_R_DISABLED, not yet enabled
};

}  // namespace ferry::proxy
