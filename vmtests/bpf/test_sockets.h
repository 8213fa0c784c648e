// Socket helpers for the BPF datapath vmtests: listeners and connects inside a given network
// namespace, and connects run by a forked "pod" process (in the pod cgroup and netns).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "common/unique_fd.h"

namespace ferry::vmtest {

// An IPv4 or IPv6 socket address ("198.18.1.2", "::ffff:198.18.100.9", "::1").
sockaddr_storage Address(const std::string& ip, uint16_t port);
std::string ToString(const sockaddr_storage& addr);
bool SameAddress(const sockaddr_storage& a, const sockaddr_storage& b);

// Enters a network namespace for the lifetime of the object (this thread only).
class ScopedNetns {
 public:
  explicit ScopedNetns(int netns_fd);
  ~ScopedNetns();
  ScopedNetns(const ScopedNetns&) = delete;
  ScopedNetns& operator=(const ScopedNetns&) = delete;
  bool ok() const { return ok_; }

 private:
  UniqueFd original_;
  bool ok_ = false;
};

// A non-blocking TCP listener bound to `addr` inside `netns_fd`; invalid fd on failure.
UniqueFd ListenIn(int netns_fd, const sockaddr_storage& addr);
// Accepts one connection within `timeout_ms`; invalid fd if none arrived.
UniqueFd AcceptWithin(int listen_fd, int timeout_ms);
sockaddr_storage LocalAddress(int fd);
sockaddr_storage PeerAddress(int fd);
// SO_NETNS_COOKIE (5.14) of a socket created in `netns_fd`; 0 on failure.
uint64_t NetnsCookie(int netns_fd);

// What a connect attempt observed. Plain data: it crosses a pipe from the pod process.
struct ConnectOutcome {
  int error = 0;            // 0 = connected, else errno (ETIMEDOUT when no answer in time)
  sockaddr_storage peer{};  // getpeername() of the connected socket
  sockaddr_storage local{};
};

// Connects from the calling process's current cgroup and netns.
ConnectOutcome ConnectNow(const sockaddr_storage& dst, int timeout_ms, uint32_t mark = 0);
// Connects from a forked process that first moves itself into `cgroup_dir` and `netns_fd`, the way
// a pod's process lives (a socket's cgroup is fixed at socket() time).
ConnectOutcome ConnectAsPod(const std::string& cgroup_dir, int netns_fd, const sockaddr_storage& dst,
                            int timeout_ms, uint32_t mark = 0);

}  // namespace ferry::vmtest
