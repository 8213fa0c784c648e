#include "cli/admin_client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include "agent/http/response_reader.h"
#include "common/ipv4.h"
#include "common/unique_fd.h"
#include "local/port_forward.h"

namespace ferry::cli {

namespace {

using Clock = std::chrono::steady_clock;

// Waits for `events` on `fd` until `deadline`; an error says which step timed out.
Result<void> WaitFor(int fd, short events, Clock::time_point deadline, const std::string& what) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return MakeError(what + ": timed out", ETIMEDOUT);
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("poll");
    if (n > 0) return Ok();
  }
}

Result<UniqueFd> Connect(const std::string& netns_path, Ipv4Endpoint endpoint, Clock::time_point deadline) {
  UniqueFd netns(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!netns) return ErrnoError("open the node's network namespace " + netns_path);
  auto sock = local::SocketInNetns(netns.get());
  if (!sock.ok()) return sock.error();
  sockaddr_in sa = endpoint.ToSockaddr();
  std::string what = "connect to " + endpoint.ToString();
  if (::connect(sock->get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    if (errno != EINPROGRESS) return ErrnoError(what);
    FERRY_TRY(WaitFor(sock->get(), POLLOUT, deadline, what));
    int error = 0;
    socklen_t len = sizeof(error);
    ::getsockopt(sock->get(), SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0) return MakeError(what, error);
  }
  return sock;
}

}  // namespace

Result<AdminAnswer> FetchFromNetns(const std::string& netns_path, uint16_t port, const std::string& path,
                                   std::chrono::milliseconds timeout) {
  return FetchFromNetns(netns_path, Ipv4Endpoint{0x7f000001, port}, path, timeout);
}

Result<AdminAnswer> FetchFromNetns(const std::string& netns_path, Ipv4Endpoint endpoint, const std::string& path,
                                   std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  auto sock = Connect(netns_path, endpoint, deadline);
  if (!sock.ok()) return sock.error();
  int fd = sock->get();
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + endpoint.ToString() + "\r\nConnection: close\r\n\r\n";
  for (size_t sent = 0; sent < request.size();) {
    FERRY_TRY(WaitFor(fd, POLLOUT, deadline, "send the request"));
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) return ErrnoError("send the request");
    if (n > 0) sent += static_cast<size_t>(n);
  }
  http::ResponseReader reader(http::HttpLimits{});
  reader.ExpectResponseTo("GET");
  AdminAnswer answer;
  bool complete = false;
  auto take = [&](const http::FeedResult& fed) -> Result<void> {
    for (const auto& e : fed.events) {
      if (e.kind == http::HttpEvent::Kind::kError) return MakeError("unreadable answer: " + e.error.reason);
      if (e.kind == http::HttpEvent::Kind::kHead) answer.status = e.head.status;
      for (auto piece : e.payload) answer.body.append(piece);
      if (e.kind == http::HttpEvent::Kind::kEnd) complete = true;
    }
    return Ok();
  };
  char buf[16 * 1024];
  while (!complete) {
    FERRY_TRY(WaitFor(fd, POLLIN, deadline, "read the answer"));
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0) return ErrnoError("read the answer");
    FERRY_TRY(take(n == 0 ? reader.FeedEof() : reader.Feed(std::string_view(buf, static_cast<size_t>(n)))));
    if (n == 0 && !complete) return MakeError("the agent closed the connection before answering");
  }
  return answer;
}

Result<nlohmann::json> AskAgent(const std::string& node_name, const std::string& netns_path, uint16_t port,
                                const std::string& path, std::chrono::milliseconds timeout) {
  auto answer = FetchFromNetns(netns_path, port, path, timeout);
  if (!answer.ok())
    return MakeError("the agent of " + node_name + " did not answer on 127.0.0.1:" + std::to_string(port) + " (" +
                     answer.error().Message() + "); is it running (`ferryctl local get nodes`)?");
  auto body = nlohmann::json::parse(answer->body, nullptr, false);
  if (answer->status != 200) {
    bool has_error = body.is_object() && body.contains("error") && body["error"].is_string();
    return MakeError("the agent of " + node_name + " answered " + std::to_string(answer->status) + ": " +
                     (has_error ? body["error"].get<std::string>() : answer->body));
  }
  if (!body.is_object()) return MakeError("the agent of " + node_name + " answered something that is not JSON");
  return body;
}

}  // namespace ferry::cli
