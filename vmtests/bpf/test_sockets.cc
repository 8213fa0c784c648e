#include "test_sockets.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ferry::vmtest {

sockaddr_storage Address(const std::string& ip, uint16_t port) {
  sockaddr_storage ss{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
  } else if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
  }
  return ss;
}

std::string ToString(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
    return std::string(text) + ":" + std::to_string(ntohs(v4->sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
    return "[" + std::string(text) + "]:" + std::to_string(ntohs(v6->sin6_port));
  }
  return "(family " + std::to_string(addr.ss_family) + ")";
}

bool SameAddress(const sockaddr_storage& a, const sockaddr_storage& b) { return ToString(a) == ToString(b); }

ScopedNetns::ScopedNetns(int netns_fd) : original_(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) {
  ok_ = original_.valid() && setns(netns_fd, CLONE_NEWNET) == 0;
}

ScopedNetns::~ScopedNetns() {
  if (ok_) setns(original_.get(), CLONE_NEWNET);
}

UniqueFd ListenIn(int netns_fd, const sockaddr_storage& addr) {
  ScopedNetns in(netns_fd);
  if (!in.ok()) return {};
  UniqueFd fd(socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) return {};
  if (listen(fd.get(), 64) != 0) return {};
  return fd;
}

UniqueFd AcceptWithin(int listen_fd, int timeout_ms) {
  pollfd p{listen_fd, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) != 1) return {};
  return UniqueFd(accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
}

sockaddr_storage LocalAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return ss;
}

sockaddr_storage PeerAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return ss;
}

uint64_t NetnsCookie(int netns_fd) {
  ScopedNetns in(netns_fd);
  if (!in.ok()) return 0;
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  if (getsockopt(fd.get(), SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0) return 0;
  return cookie;
}

ConnectOutcome ConnectNow(const sockaddr_storage& dst, int timeout_ms, uint32_t mark) {
  ConnectOutcome out;
  UniqueFd fd(socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return {errno};
  if (mark != 0 && setsockopt(fd.get(), SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) return {errno};
  socklen_t len = dst.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&dst), len) != 0) {
    if (errno != EINPROGRESS) return {errno};
    pollfd p{fd.get(), POLLOUT, 0};
    if (poll(&p, 1, timeout_ms) != 1) return {ETIMEDOUT};
    socklen_t elen = sizeof(out.error);
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &out.error, &elen);
    if (out.error != 0) return out;
  }
  out.peer = PeerAddress(fd.get());
  out.local = LocalAddress(fd.get());
  return out;
}

ConnectOutcome ConnectAsPod(const std::string& cgroup_dir, int netns_fd, const sockaddr_storage& dst,
                            int timeout_ms, uint32_t mark) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return {errno};
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  const std::string procs_path = cgroup_dir + "/cgroup.procs";
  pid_t pid = fork();
  if (pid < 0) return {errno};
  if (pid == 0) {
    // Child: only syscalls from here on (the parent may have other threads).
    ConnectOutcome out;
    int procs = open(procs_path.c_str(), O_WRONLY | O_CLOEXEC);
    if (procs < 0 || write(procs, "0", 1) != 1) out.error = EACCES;
    if (out.error == 0 && setns(netns_fd, CLONE_NEWNET) != 0) out.error = errno;
    if (out.error == 0) out = ConnectNow(dst, timeout_ms, mark);
    ssize_t written = write(write_end.get(), &out, sizeof(out));
    _exit(written == sizeof(out) ? 0 : 1);
  }
  write_end.Reset();
  ConnectOutcome out;
  ssize_t got = read(read_end.get(), &out, sizeof(out));
  int status = 0;
  waitpid(pid, &status, 0);
  if (got != sizeof(out)) return {EPIPE};
  return out;
}

}  // namespace ferry::vmtest
