#include "loopback.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace ferry::proxy::testing {

UniqueFd NewUpstreamSocket() { return UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)); }

StreamEnd EchoAll(const Ipv4Endpoint& address, const std::string& payload) {
  UniqueFd client = Connect(address);
  if (!client) return StreamEnd{"", errno};
  SetReceiveTimeout(client.get(), std::chrono::seconds(60));
  bool sent = false;
  std::thread writer([&] {
    sent = WriteAll(client.get(), payload.data(), payload.size());
    ::shutdown(client.get(), SHUT_WR);
  });
  StreamEnd reply = ReadToEnd(client.get());
  writer.join();
  if (!sent && reply.error == 0) reply.error = EPIPE;  // the echo path stopped taking bytes
  return reply;
}

bool ReadExactly(int fd, void* data, size_t size) {
  auto* p = static_cast<uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ::recv(fd, p, size, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

StreamEnd ReadToEnd(int fd) {
  StreamEnd end;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      end.error = errno;
      return end;
    }
    if (n == 0) return end;
    end.data.append(buf, static_cast<size_t>(n));
  }
}

void SetReceiveTimeout(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

bool EchoRoundTrip(int fd, const std::string& message) {
  if (!WriteAll(fd, message.data(), message.size())) return false;
  std::string reply(message.size(), '\0');
  return ReadExactly(fd, reply.data(), reply.size()) && reply == message;
}

bool WaitFor(const std::function<bool()>& predicate, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

LoopbackServer::LoopbackServer(Serve serve)
    : serve_(std::move(serve)),
      listener_(BoundSocket(1024)),
      stop_event_(::eventfd(0, EFD_CLOEXEC)),
      address_(LocalAddress(listener_.get())) {
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

LoopbackServer::~LoopbackServer() {
  uint64_t one = 1;
  (void)::write(stop_event_.get(), &one, sizeof(one));
  acceptor_.join();
  for (auto& t : handlers_) t.join();
}

void LoopbackServer::AcceptLoop() {
  std::vector<std::shared_ptr<UniqueFd>> open;
  for (;;) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_event_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents != 0) break;
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client) continue;
    accepted_.fetch_add(1);
    auto shared = std::make_shared<UniqueFd>(std::move(client));
    open.push_back(shared);
    std::lock_guard lock(mutex_);
    handlers_.emplace_back([this, shared] { serve_(*shared); });
  }
  // Unblock handlers still reading; each fd closes when its last holder lets go.
  for (auto& fd : open) {
    if (fd->valid()) ::shutdown(fd->get(), SHUT_RDWR);
  }
}

void LoopbackServer::Echo(UniqueFd& socket) {
  int fd = socket.get();
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (!WriteAll(fd, buf, static_cast<size_t>(n))) break;
  }
  ::shutdown(fd, SHUT_WR);
}

}  // namespace ferry::proxy::testing
