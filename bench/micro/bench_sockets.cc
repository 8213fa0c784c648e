#include "bench_sockets.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace ferry::bench {

namespace {

[[noreturn]] void Die(const char* what) {
  std::perror(what);
  std::exit(1);
}

void WriteAllOrDie(int fd, const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) Die("bench send");
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void ReadExactlyOrDie(int fd, void* data, size_t size) {
  auto* p = static_cast<uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ::recv(fd, p, size, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) Die("bench recv");
    p += n;
    size -= static_cast<size_t>(n);
  }
}

}  // namespace

UniqueFd ListenLoopback() {
  UniqueFd fd = ferry::testing::BoundLoopbackSocket(128);
  if (!fd) Die("listen on loopback");
  return fd;
}

UniqueFd ConnectTo(const Ipv4Endpoint& target) {
  UniqueFd fd = ferry::testing::ConnectTo(target);
  if (!fd) Die("connect");
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

BenchServer::BenchServer()
    : listener_(ListenLoopback()), stop_(::eventfd(0, EFD_CLOEXEC)), address_(LocalAddress(listener_.get())) {
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

BenchServer::~BenchServer() {
  uint64_t one = 1;
  (void)::write(stop_.get(), &one, sizeof(one));
  acceptor_.join();
  for (auto& t : handlers_) t.join();
}

void BenchServer::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents != 0) return;
    int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    handlers_.emplace_back([fd] {
      Serve(fd);
      ::close(fd);
    });
  }
}

void BenchServer::Serve(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  char mode = 0;
  if (::recv(fd, &mode, 1, MSG_WAITALL) != 1) return;
  std::vector<char> buf(1 << 18);
  for (;;) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (mode == 'E') WriteAllOrDie(fd, buf.data(), static_cast<size_t>(n));
  }
  if (mode == 'T') WriteAllOrDie(fd, "k", 1);
}

double MeasureThroughputSeconds(const Ipv4Endpoint& target, uint64_t bytes) {
  UniqueFd fd = ConnectTo(target);
  std::vector<char> buf(1 << 18, 'x');
  auto start = std::chrono::steady_clock::now();
  WriteAllOrDie(fd.get(), "T", 1);
  for (uint64_t left = bytes; left > 0;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
    WriteAllOrDie(fd.get(), buf.data(), n);
    left -= n;
  }
  ::shutdown(fd.get(), SHUT_WR);
  char ack = 0;
  ReadExactlyOrDie(fd.get(), &ack, 1);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<double> MeasureRoundTripsMicros(const Ipv4Endpoint& target, int samples) {
  UniqueFd fd = ConnectTo(target);
  WriteAllOrDie(fd.get(), "E", 1);
  char request[64] = {}, reply[64];
  std::vector<double> micros;
  micros.reserve(static_cast<size_t>(samples));
  for (int i = 0; i < samples + 100; ++i) {  // the first 100 warm up
    auto start = std::chrono::steady_clock::now();
    WriteAllOrDie(fd.get(), request, sizeof(request));
    ReadExactlyOrDie(fd.get(), reply, sizeof(reply));
    double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
    if (i >= 100) micros.push_back(us);
  }
  return micros;
}

}  // namespace ferry::bench
