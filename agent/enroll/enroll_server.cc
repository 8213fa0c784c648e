#include "agent/enroll/enroll_server.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>

namespace ferry::enroll {

namespace {
constexpr size_t kMaxRequestBytes = 64 * 1024;
constexpr int kClientTimeoutMs = 5000;
}  // namespace

Result<std::unique_ptr<EnrollServer>> EnrollServer::Start(const std::string& socket_path, Handler handler) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoError("socket(AF_UNIX)");
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(sa.sun_path)) return MakeError("enroll socket path too long: " + socket_path);
  socket_path.copy(sa.sun_path, socket_path.size());
  ::unlink(socket_path.c_str());  // a stale socket from a killed agent
  mode_t old_umask = ::umask(0077);
  int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  ::umask(old_umask);
  if (rc != 0) return ErrnoError("bind " + socket_path);
  if (::listen(fd.get(), 64) != 0) return ErrnoError("listen " + socket_path);
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC));
  if (!stop) return ErrnoError("eventfd");
  auto server = std::unique_ptr<EnrollServer>(
      new EnrollServer(socket_path, std::move(fd), std::move(stop), std::move(handler)));
  server->thread_ = std::thread([s = server.get()] { s->Run(); });
  return server;
}

EnrollServer::EnrollServer(std::string path, UniqueFd listener, UniqueFd stop_event, Handler handler)
    : path_(std::move(path)), listener_(std::move(listener)), stop_event_(std::move(stop_event)),
      handler_(std::move(handler)) {}

EnrollServer::~EnrollServer() {
  uint64_t one = 1;
  if (::write(stop_event_.get(), &one, sizeof(one)) < 0) spdlog::warn("enroll server: stop signal failed");
  if (thread_.joinable()) thread_.join();
  ::unlink(path_.c_str());
}

void EnrollServer::Run() {
  for (;;) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_event_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("enroll server: poll: {}", strerror(errno));
      return;
    }
    if (fds[1].revents) return;
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client) continue;
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(client.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != 0) {
      std::string reply = ErrorReply("permission denied: the enrollment API is for root only") + "\n";
      (void)!::send(client.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
      continue;
    }
    Serve(client.get());
  }
}

// One connection may carry several requests; each gets one reply line.
void EnrollServer::Serve(int client_fd) {
  std::string pending;
  char buf[4096];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kClientTimeoutMs);
  for (;;) {
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      auto request = ParseRequest(line);
      std::string reply = (request.ok() ? handler_(*request) : ErrorReply(request.error().Message())) + "\n";
      if (::send(client_fd, reply.data(), reply.size(), MSG_NOSIGNAL) < 0) return;
    }
    if (pending.size() > kMaxRequestBytes) return;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd pfd{client_fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return;
    ssize_t n = ::recv(client_fd, buf, sizeof(buf), 0);
    if (n <= 0) return;
    pending.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace ferry::enroll
