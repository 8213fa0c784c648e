#include "agent/proxy/io_ring.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "common/result.h"

namespace ferry::proxy {

Result<std::unique_ptr<IoRing>> IoRing::Create(unsigned entries) {
  std::unique_ptr<IoRing> ring(new IoRing());
  // The best the kernel offers first. One thread submits and reaps, so (6.1+) completions' task
  // work can wait until that thread waits for completions and run there in a batch, instead of
  // interrupting it once per completion; such a ring is bound to one thread, so it starts
  // disabled and the worker enables it on its own thread. Then (5.19+) completions reaped by
  // the submitter need no IPI. Older kernels: none of the optional flags.
  constexpr unsigned kFlagChoices[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED | IORING_SETUP_SUBMIT_ALL,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
      0,
  };
  io_uring_params params{};
  int rc = -EINVAL;
  for (unsigned flags : kFlagChoices) {
    params = io_uring_params{};
    params.flags = flags;
    rc = io_uring_queue_init_params(entries, &ring->ring_, &params);
    if (rc != -EINVAL) break;
  }
  ring->disabled_ = rc >= 0 && (params.flags & IORING_SETUP_R_DISABLED) != 0;
  if (rc < 0) {
    return MakeError(
        "io_uring unavailable (io_uring_setup failed; check kernel.io_uring_disabled, seccomp, "
        "RLIMIT_MEMLOCK)",
        -rc);
  }
  if (!(params.features & IORING_FEAT_NODROP)) {
    io_uring_queue_exit(&ring->ring_);
    return MakeError("io_uring too old: kernel lacks IORING_FEAT_NODROP (need 5.19+)");
  }
  return ring;
}

IoRing::~IoRing() { io_uring_queue_exit(&ring_); }

Result<void> IoRing::EnableOnThisThread() {
  if (!disabled_) return Ok();
  // Debian's liburing 2.3 declares io_uring_enable_rings but does not export it.
  long rc = ::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
  if (rc < 0) return MakeError("io_uring_register(IORING_REGISTER_ENABLE_RINGS)", errno);
  disabled_ = false;
  return Ok();
}

io_uring_sqe* IoRing::GetSqe() {
  for (;;) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe != nullptr) return sqe;
    io_uring_submit(&ring_);
  }
}

void IoRing::ReserveSqes(unsigned count) {
  while (io_uring_sq_space_left(&ring_) < count) io_uring_submit(&ring_);
}

Result<void> IoRing::SubmitAndWait() {
  int rc = io_uring_submit_and_wait(&ring_, 1);
  if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
    return MakeError("io_uring_submit_and_wait", -rc);
  }
  return Ok();
}

Result<void> IoRing::LimitKernelWorkers(unsigned bounded, unsigned unbounded) {
  unsigned values[2] = {bounded, unbounded};
  int rc = io_uring_register_iowq_max_workers(&ring_, values);
  if (rc < 0) return MakeError("io_uring_register_iowq_max_workers", -rc);
  return Ok();
}

}  // namespace ferry::proxy
