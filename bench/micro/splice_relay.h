// A measurement-only relay that moves bytes with poll-then-splice through a pipe per direction,
// to compare against the engine's copy through provided buffers. io_uring punts every SPLICE to
// io-wq, so a poll is armed first and a splice is issued only when the socket is ready.
#pragma once

#include <memory>
#include <thread>
#include <unordered_map>

#include "agent/proxy/io_ring.h"
#include "common/ipv4.h"
#include "common/unique_fd.h"

namespace ferry::bench {

class PollSpliceRelay {
 public:
  // Listens on 127.0.0.1 (ephemeral port) and relays every connection to `target`.
  static std::unique_ptr<PollSpliceRelay> Start(Ipv4Endpoint target, size_t pipe_bytes);
  ~PollSpliceRelay();
  PollSpliceRelay(const PollSpliceRelay&) = delete;
  PollSpliceRelay& operator=(const PollSpliceRelay&) = delete;

  Ipv4Endpoint address() const { return address_; }

 private:
  struct Direction {
    UniqueFd pipe_read, pipe_write;
    size_t in_pipe = 0;
    bool last_read_full = false;
    bool done = false;
  };
  struct Link {
    UniqueFd socket[2];  // [0] client, [1] upstream
    Direction dir[2];    // dir[d] moves socket[d] -> socket[1 - d]
    unsigned inflight = 0;
    bool failed = false;
  };

  PollSpliceRelay() = default;
  void Run();
  void OnAccept(int res);
  void OnCompletion(uint64_t id, int op, int d, int res);
  void PollIn(uint64_t id, Link& link, int d);
  void SpliceIn(uint64_t id, Link& link, int d);
  void SpliceOut(uint64_t id, Link& link, int d);
  void PollOut(uint64_t id, Link& link, int d);
  void Fail(Link& link);

  std::unique_ptr<proxy::IoRing> ring_;
  UniqueFd listener_;
  UniqueFd stop_;
  uint64_t stop_value_ = 0;
  Ipv4Endpoint address_;
  Ipv4Endpoint target_;
  size_t pipe_bytes_ = 0;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Link>> links_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ferry::bench
