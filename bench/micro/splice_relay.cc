#include "splice_relay.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "bench_sockets.h"

namespace ferry::bench {

namespace {

enum SpliceOp { kAccept = 1, kStop, kPollIn, kSpliceIn, kSpliceOut, kPollOut };

uint64_t Pack(uint64_t id, int op, int d) { return (id << 8) | (static_cast<uint64_t>(op) << 1) | d; }

void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

}  // namespace

std::unique_ptr<PollSpliceRelay> PollSpliceRelay::Start(Ipv4Endpoint target, size_t pipe_bytes) {
  std::unique_ptr<PollSpliceRelay> relay(new PollSpliceRelay());
  auto ring = proxy::IoRing::Create(1024);
  if (!ring) {
    std::fprintf(stderr, "splice relay: %s\n", ring.error().Message().c_str());
    std::exit(1);
  }
  relay->ring_ = std::move(ring).value();
  // Splices run on io-wq threads; bound them like the engine would have to.
  (void)relay->ring_->LimitKernelWorkers(4, 4);
  relay->listener_ = ListenLoopback();
  relay->address_ = LocalAddress(relay->listener_.get());
  relay->stop_.Reset(::eventfd(0, EFD_CLOEXEC));
  relay->target_ = target;
  relay->pipe_bytes_ = pipe_bytes;
  relay->thread_ = std::thread([r = relay.get()] { r->Run(); });
  return relay;
}

PollSpliceRelay::~PollSpliceRelay() {
  uint64_t one = 1;
  (void)::write(stop_.get(), &one, sizeof(one));
  thread_.join();
}

void PollSpliceRelay::Run() {
  if (!ring_->EnableOnThisThread().ok()) return;
  io_uring_sqe* sqe = ring_->GetSqe();
  io_uring_prep_multishot_accept(sqe, listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, Pack(0, kAccept, 0));
  sqe = ring_->GetSqe();
  io_uring_prep_read(sqe, stop_.get(), &stop_value_, sizeof(stop_value_), 0);
  io_uring_sqe_set_data64(sqe, Pack(0, kStop, 0));
  while (!stopping_) {
    if (!ring_->SubmitAndWait().ok()) break;
    io_uring_cqe* cqe;
    unsigned head, seen = 0;
    struct Done { uint64_t data; int res; };
    std::vector<Done> batch;
    io_uring_for_each_cqe(ring_->raw(), head, cqe) {
      batch.push_back({cqe->user_data, cqe->res});
      ++seen;
    }
    io_uring_cq_advance(ring_->raw(), seen);
    for (const Done& c : batch) {
      int op = static_cast<int>((c.data >> 1) & 0x7f);
      if (op == kStop) stopping_ = true;
      if (op == kAccept) {
        OnAccept(c.res);
      } else if (op != kStop) {
        OnCompletion(c.data >> 8, op, static_cast<int>(c.data & 1), c.res);
      }
    }
  }
  // The ring is torn down with the object; sockets close with it.
}

void PollSpliceRelay::OnAccept(int res) {
  if (res < 0) return;
  auto link = std::make_unique<Link>();
  link->socket[0].Reset(res);
  // Connection setup is not what this relay measures: a plain connect keeps it short.
  link->socket[1] = ConnectTo(target_);
  for (int d = 0; d < 2; ++d) {
    SetNonBlocking(link->socket[d].get());
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) std::exit(1);
    ::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(pipe_bytes_));
    link->dir[d].pipe_read.Reset(fds[0]);
    link->dir[d].pipe_write.Reset(fds[1]);
  }
  uint64_t id = next_id_++;
  Link& ref = *link;
  links_.emplace(id, std::move(link));
  PollIn(id, ref, 0);
  PollIn(id, ref, 1);
}

void PollSpliceRelay::PollIn(uint64_t id, Link& link, int d) {
  io_uring_sqe* sqe = ring_->GetSqe();
  io_uring_prep_poll_add(sqe, link.socket[d].get(), POLLIN | POLLRDHUP);
  io_uring_sqe_set_data64(sqe, Pack(id, kPollIn, d));
  ++link.inflight;
}

void PollSpliceRelay::SpliceIn(uint64_t id, Link& link, int d) {
  io_uring_sqe* sqe = ring_->GetSqe();
  io_uring_prep_splice(sqe, link.socket[d].get(), -1, link.dir[d].pipe_write.get(), -1,
                       static_cast<unsigned>(pipe_bytes_), SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  io_uring_sqe_set_data64(sqe, Pack(id, kSpliceIn, d));
  ++link.inflight;
}

void PollSpliceRelay::SpliceOut(uint64_t id, Link& link, int d) {
  io_uring_sqe* sqe = ring_->GetSqe();
  io_uring_prep_splice(sqe, link.dir[d].pipe_read.get(), -1, link.socket[1 - d].get(), -1,
                       static_cast<unsigned>(link.dir[d].in_pipe), SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  io_uring_sqe_set_data64(sqe, Pack(id, kSpliceOut, d));
  ++link.inflight;
}

void PollSpliceRelay::PollOut(uint64_t id, Link& link, int d) {
  io_uring_sqe* sqe = ring_->GetSqe();
  io_uring_prep_poll_add(sqe, link.socket[1 - d].get(), POLLOUT);
  io_uring_sqe_set_data64(sqe, Pack(id, kPollOut, d));
  ++link.inflight;
}

void PollSpliceRelay::Fail(Link& link) {
  link.failed = true;
  for (auto& s : link.socket) ::shutdown(s.get(), SHUT_RDWR);  // wakes pending polls
}

void PollSpliceRelay::OnCompletion(uint64_t id, int op, int d, int res) {
  auto it = links_.find(id);
  if (it == links_.end()) return;
  Link& link = *it->second;
  Direction& dir = link.dir[d];
  --link.inflight;
  if (!link.failed) {
    if (op == kPollIn) {
      SpliceIn(id, link, d);
    } else if (op == kSpliceIn) {
      if (res > 0) {
        dir.in_pipe = static_cast<size_t>(res);
        dir.last_read_full = static_cast<size_t>(res) == pipe_bytes_;
        SpliceOut(id, link, d);
      } else if (res == -EAGAIN) {
        PollIn(id, link, d);
      } else if (res == 0) {
        ::shutdown(link.socket[1 - d].get(), SHUT_WR);
        dir.done = true;
      } else {
        Fail(link);
      }
    } else if (op == kSpliceOut) {
      if (res > 0) dir.in_pipe -= static_cast<size_t>(res);
      if (res == -EAGAIN || (res > 0 && dir.in_pipe > 0)) {
        PollOut(id, link, d);
      } else if (res < 0) {
        Fail(link);
      } else if (dir.last_read_full) {
        SpliceIn(id, link, d);  // more is likely waiting: skip the poll
      } else {
        PollIn(id, link, d);
      }
    } else if (op == kPollOut) {
      SpliceOut(id, link, d);
    }
  }
  bool finished = link.failed || (link.dir[0].done && link.dir[1].done);
  if (finished && link.inflight == 0) links_.erase(it);
}

}  // namespace ferry::bench
