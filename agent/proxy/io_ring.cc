#include "agent/proxy/io_ring.h"

#include <cerrno>

#include "common/result.h"

namespace ferry::proxy {

Result<std::unique_ptr<IoRing>> IoRing::Create(unsigned entries) {
  std::unique_ptr<IoRing> ring(new IoRing());
  io_uring_params params{};
  // Completions are reaped by the same thread that submits; no need for IPIs on each completion.
  params.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL;
  int rc = io_uring_queue_init_params(entries, &ring->ring_, &params);
  if (rc == -EINVAL) {
    params = io_uring_params{};  // older kernels: retry without the optional flags
    rc = io_uring_queue_init_params(entries, &ring->ring_, &params);
  }
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
