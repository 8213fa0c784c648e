#include "local/port_forward.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <charconv>
#include <vector>

namespace ferry::local {

namespace {

constexpr size_t kRelayBufferSize = 64 * 1024;  // per direction and connection
constexpr int kConnectTimeoutMs = 10'000;
constexpr int kAcceptBackoffMs = 100;  // out of descriptors: wait instead of spinning on accept

std::optional<uint16_t> ParsePort(std::string_view text, bool allow_zero) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 65535) return std::nullopt;
  if (value == 0 && !allow_zero) return std::nullopt;
  return static_cast<uint16_t>(value);
}

// One direction of a relayed connection: bytes read from `from`, not yet written to `to`.
struct Direction {
  int from = -1;
  int to = -1;
  std::vector<char> buffer = std::vector<char>(kRelayBufferSize);
  size_t begin = 0, end = 0;
  bool eof = false;       // `from` sent its FIN
  bool finished = false;  // ...and it was passed on to `to` after the last byte

  bool WantsRead() const { return !eof && end < buffer.size(); }
  bool WantsWrite() const { return begin < end; }
};

// Moves what it can without blocking. A socket error (reset, broken pipe) ends the relay.
Result<void> Pump(Direction& d) {
  if (d.WantsRead()) {
    ssize_t n = ::recv(d.from, d.buffer.data() + d.end, d.buffer.size() - d.end, 0);
    if (n > 0) {
      d.end += static_cast<size_t>(n);
    } else if (n == 0) {
      d.eof = true;
    } else if (errno != EAGAIN && errno != EINTR) {
      return ErrnoError("read");
    }
  }
  while (d.WantsWrite()) {
    ssize_t n = ::send(d.to, d.buffer.data() + d.begin, d.end - d.begin, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      return ErrnoError("write");
    }
    d.begin += static_cast<size_t>(n);
  }
  if (d.begin == d.end) d.begin = d.end = 0;
  if (d.eof && !d.WantsWrite() && !d.finished) {
    // Half-close: the other side may still be sending.
    ::shutdown(d.to, SHUT_WR);
    d.finished = true;
  }
  return Ok();
}

// What to wait for on `fd`, which `reading` reads from and `writing` writes to. A socket with
// nothing to wait for is left out (fd -1): poll would otherwise report its hang-up forever.
pollfd Interest(int fd, const Direction& reading, const Direction& writing) {
  short events = static_cast<short>((reading.WantsRead() ? POLLIN : 0) | (writing.WantsWrite() ? POLLOUT : 0));
  return pollfd{events ? fd : -1, events, 0};
}

enum class RelayEnd { kClosed, kStopped };

// Relays both ways until both directions have passed their FIN on, an error, or stop_fd.
Result<RelayEnd> Relay(int client, int upstream, int stop_fd) {
  Direction to_pod{client, upstream}, to_client{upstream, client};
  while (!(to_pod.finished && to_client.finished)) {
    pollfd fds[3] = {Interest(client, to_pod, to_client), Interest(upstream, to_client, to_pod),
                     {stop_fd, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("poll");
    }
    if (fds[2].revents) return RelayEnd::kStopped;
    FERRY_TRY(Pump(to_pod));
    FERRY_TRY(Pump(to_client));
  }
  return RelayEnd::kClosed;
}

// Closing with a zero linger sends a reset: a peer must not mistake a failed relay for a clean end.
void Abort(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

Result<UniqueFd> Dial(const ForwardTarget& target, int stop_fd) {
  auto made = target.make_socket();
  if (!made.ok()) return made.error();
  UniqueFd sock = std::move(made).value();
  sockaddr_in sa = target.endpoint.ToSockaddr();
  std::string what = "connect to " + target.endpoint.ToString();
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) return sock;
  if (errno != EINPROGRESS) return ErrnoError(what);
  pollfd fds[2] = {{sock.get(), POLLOUT, 0}, {stop_fd, POLLIN, 0}};
  int n;
  while ((n = ::poll(fds, 2, kConnectTimeoutMs)) < 0 && errno == EINTR) {
  }
  if (n < 0) return ErrnoError("poll");
  if (n == 0) return MakeError(what, ETIMEDOUT);
  if (fds[1].revents) return MakeError(what + ": stopping", ECANCELED);
  int error = 0;
  socklen_t len = sizeof(error);
  if (::getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &error, &len) != 0) return ErrnoError("getsockopt SO_ERROR");
  if (error != 0) return MakeError(what, error);
  return sock;
}

}  // namespace

Result<PortMapping> ParsePortMapping(std::string_view text) {
  auto bad = [&] {
    return MakeError("invalid port mapping \"" + std::string(text) +
                     "\": expected LOCAL:REMOTE, PORT or :REMOTE with ports 1-65535 (LOCAL may be 0: any free port)");
  };
  auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    auto port = ParsePort(text, false);
    if (!port) return bad();
    return PortMapping{*port, *port};
  }
  std::string_view local = text.substr(0, colon), remote = text.substr(colon + 1);
  auto remote_port = ParsePort(remote, false);
  auto local_port = local.empty() ? std::optional<uint16_t>(0) : ParsePort(local, true);
  if (!remote_port || !local_port) return bad();
  return PortMapping{*local_port, *remote_port};
}

Result<uint32_t> ParseLoopbackAddress(std::string_view text) {
  if (text == "localhost") return uint32_t{0x7f000001};
  if (text.find(':') != std::string_view::npos)
    return MakeError("--address " + std::string(text) + ": IPv6 is not supported; use 127.0.0.1");
  auto addr = ParseIpv4(text);
  if (!addr) return MakeError("--address " + std::string(text) + ": not an IPv4 address");
  if (!IsLoopback(*addr))
    return MakeError("--address " + std::string(text) +
                     ": only loopback addresses (127.0.0.0/8, localhost) are allowed, so a pod's port is never "
                     "reachable from other machines");
  return *addr;
}

Result<UniqueFd> SocketInNetns(int netns_fd) {
  Result<UniqueFd> result = MakeError("socket in the pod's network namespace: not created");
  // A socket keeps the netns it was created in; only this short-lived thread ever changes netns.
  std::thread creator([&] {
    if (::setns(netns_fd, CLONE_NEWNET) != 0) {
      result = ErrnoError("enter the pod's network namespace");
      return;
    }
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    result = fd < 0 ? Result<UniqueFd>(ErrnoError("socket")) : Result<UniqueFd>(UniqueFd(fd));
  });
  creator.join();
  return result;
}

Result<ForwardTarget> NetnsLoopbackTarget(const std::string& netns_path, uint16_t port, std::string description) {
  auto netns = std::make_shared<UniqueFd>(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!*netns) return ErrnoError("open the pod's network namespace " + netns_path);
  ForwardTarget target;
  target.make_socket = [netns] { return SocketInNetns(netns->get()); };
  target.endpoint = Ipv4Endpoint{0x7f000001, port};
  target.description = std::move(description);
  return target;
}

Result<std::unique_ptr<PortForwarder>> PortForwarder::Listen(ForwarderOptions options) {
  FERRY_ASSERT(options.target.make_socket != nullptr);
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listener) return ErrnoError("socket");
  int one = 1;
  // Lets a restarted port-forward reuse a port whose old connections are in TIME_WAIT; a port that
  // another program listens on is still refused.
  ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa = options.listen.ToSockaddr();
  std::string what = "unable to listen on " + options.listen.ToString();
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return ErrnoError(what);
  if (::listen(listener.get(), 128) != 0) return ErrnoError(what);
  socklen_t len = sizeof(sa);
  if (::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0) return ErrnoError("getsockname");
  UniqueFd stop_event(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_event) return ErrnoError("eventfd");
  return std::unique_ptr<PortForwarder>(new PortForwarder(std::move(options), std::move(listener),
                                                          std::move(stop_event), Ipv4Endpoint::FromSockaddr(sa)));
}

PortForwarder::PortForwarder(ForwarderOptions options, UniqueFd listener, UniqueFd stop_event, Ipv4Endpoint local)
    : options_(std::move(options)), listener_(std::move(listener)), stop_event_(std::move(stop_event)), local_(local) {}

PortForwarder::~PortForwarder() {
  Stop();
  ReapFinished(true);
}

void PortForwarder::Stop() {
  // Never read back: the eventfd stays readable, so every poller (Run, each connection) sees it.
  uint64_t one = 1;
  (void)!::write(stop_event_.get(), &one, sizeof(one));
}

Result<void> PortForwarder::Run(int stop_fd) {
  Result<void> result = Ok();
  for (;;) {
    pollfd fds[3] = {{listener_.get(), POLLIN, 0}, {stop_event_.get(), POLLIN, 0}, {stop_fd, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      result = ErrnoError("poll");
      break;
    }
    if (fds[1].revents || fds[2].revents) break;
    if (fds[0].revents) AcceptOne();
  }
  // Connections still queued on the listener are reset rather than left hanging.
  listener_.Reset();
  Stop();
  ReapFinished(true);
  return result;
}

void PortForwarder::AcceptOne() {
  ReapFinished(false);
  UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  if (!client) {
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      Report(options_.on_error, ErrnoError("accept on " + local_.ToString()).Message());
      pollfd stop{stop_event_.get(), POLLIN, 0};
      ::poll(&stop, 1, kAcceptBackoffMs);
    }
    return;  // EAGAIN, ECONNABORTED, EINTR: nothing to accept after all
  }
  if (connections_.size() >= options_.max_connections) {
    Report(options_.on_error, "refusing a connection to " + local_.ToString() + ": already forwarding " +
                                  std::to_string(connections_.size()) + " connections");
    return;
  }
  Forward(std::move(client));
}

void PortForwarder::Forward(UniqueFd client) {
  auto connection = std::make_unique<Connection>();
  Connection* raw = connection.get();
  connections_.push_back(std::move(connection));
  raw->thread = std::thread([this, raw, client = std::move(client)]() mutable {
    Report(options_.on_connection, "Handling connection for " + std::to_string(local_.port));
    auto upstream = Dial(options_.target, stop_event_.get());
    if (!upstream.ok()) {
      if (upstream.error().code != ECANCELED)
        Report(options_.on_error, "forwarding to " + options_.target.description + ": " + upstream.error().Message());
      Abort(client.get());
    } else {
      auto end = Relay(client.get(), upstream->get(), stop_event_.get());
      if (!end.ok()) {
        Abort(client.get());
        Abort(upstream->get());
      }
    }
    raw->done = true;
  });
}

void PortForwarder::ReapFinished(bool all) {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if (all || (*it)->done) {
      if ((*it)->thread.joinable()) (*it)->thread.join();
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
}

void PortForwarder::Report(const std::function<void(const std::string&)>& sink, const std::string& message) {
  if (!sink) return;
  std::lock_guard lock(report_mu_);
  sink(message);
}

}  // namespace ferry::local
