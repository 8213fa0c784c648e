#include "agent/admin/admin_server.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <list>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "agent/http/request_reader.h"

namespace ferry::admin {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kReadChunk = 4096;
// After the answer is written, what the client still sends is read and dropped for this long, so
// closing does not reset the connection before the client has read the answer (a 431 to a client
// still sending its oversized head, say).
constexpr std::chrono::milliseconds kLingerTime{1000};

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

std::string Serialize(const AdminResponse& r, bool allow_header) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + ReasonPhrase(r.status) + "\r\n";
  out += "Content-Type: " + r.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  if (allow_header) out += "Allow: GET\r\n";
  out += "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
  out += r.body;
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Query values also decode '+' as a space (form encoding), paths do not.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = HexValue(text[i + 1]), lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(plus_is_space && c == '+' ? ' ' : c);
    }
  }
  return out;
}

}  // namespace

AdminResponse AdminResponse::Error(int status, const std::string& reason) {
  return AdminResponse{status, "application/json", nlohmann::json{{"error", reason}}.dump() + "\n"};
}

AdminResponse AdminResponse::Text(std::string body, std::string content_type) {
  return AdminResponse{200, std::move(content_type), std::move(body)};
}

bool ParseRequestTarget(const std::string& target, AdminRequest& out) {
  std::string_view t = target;
  auto question = t.find('?');
  auto path = PercentDecode(t.substr(0, question), false);
  if (!path) return false;
  out.path = std::move(*path);
  out.query.clear();
  if (question == std::string_view::npos) return true;
  std::string_view query = t.substr(question + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto key = PercentDecode(pair.substr(0, eq), true);
    auto value = PercentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
    if (!key || !value) return false;
    out.query[*key] = *value;
  }
  return true;
}

// The server thread's state: the listener and every open connection.
class AdminServer::Loop {
 public:
  Loop(AdminServerOptions options, AdminRoutes routes, UniqueFd listener)
      : options_(std::move(options)), routes_(std::move(routes)), listener_(std::move(listener)) {}

  void Run(int stop_fd);

 private:
  enum class Phase { kReading, kWriting, kLingering };
  struct Connection {
    UniqueFd fd;
    http::RequestReader reader;
    size_t received = 0;
    std::string out;
    size_t sent = 0;
    Phase phase = Phase::kReading;
    Clock::time_point deadline;
  };

  void Accept();
  // Each returns false when the connection is finished and must be closed.
  bool OnReadable(Connection& c);
  bool OnWritable(Connection& c);
  void Respond(Connection& c, const AdminResponse& response, bool allow_header = false);
  AdminResponse Route(const http::MessageHead& head);
  int PollTimeoutMs() const;

  AdminServerOptions options_;
  AdminRoutes routes_;
  UniqueFd listener_;
  std::list<Connection> connections_;
};

void AdminServer::Loop::Run(int stop_fd) {
  for (;;) {
    std::vector<pollfd> fds = {{listener_.get(), POLLIN, 0}, {stop_fd, POLLIN, 0}};
    for (const auto& c : connections_)
      fds.push_back({c.fd.get(), static_cast<short>(c.phase == Phase::kWriting ? POLLOUT : POLLIN), 0});
    if (::poll(fds.data(), fds.size(), PollTimeoutMs()) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("{} endpoint: poll: {}; stopping", options_.name, std::strerror(errno));
      return;
    }
    if (fds[1].revents) return;
    auto now = Clock::now();
    size_t i = 2;
    for (auto it = connections_.begin(); it != connections_.end(); ++i) {
      short revents = fds[i].revents;
      bool keep = true;
      if (revents & (POLLIN | POLLHUP | POLLERR)) keep = it->phase == Phase::kWriting ? OnWritable(*it) : OnReadable(*it);
      else if (revents & POLLOUT) keep = OnWritable(*it);
      else if (now >= it->deadline) {
        if (it->phase == Phase::kReading) {
          Respond(*it, AdminResponse::Error(408, "no complete request within the idle timeout"));
          keep = OnWritable(*it);
        } else {
          keep = false;
        }
      }
      it = keep ? std::next(it) : connections_.erase(it);
    }
    if (fds[0].revents & POLLIN) Accept();
  }
}

int AdminServer::Loop::PollTimeoutMs() const {
  if (connections_.empty()) return -1;
  auto earliest = std::min_element(connections_.begin(), connections_.end(),
                                   [](const auto& a, const auto& b) { return a.deadline < b.deadline; })->deadline;
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(earliest - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(wait + 1, 0, 60'000));
}

void AdminServer::Loop::Accept() {
  for (;;) {
    UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;  // EAGAIN, or a transient error: the next poll tells
    if (connections_.size() >= options_.max_connections) {
      spdlog::warn("{} endpoint: {} connections open, refusing another", options_.name, connections_.size());
      continue;  // closed right away
    }
    http::HttpLimits limits;
    limits.max_head_bytes = options_.max_request_bytes;
    auto& c = connections_.emplace_back();
    c.fd = std::move(fd);
    c.reader = http::RequestReader(limits);
    c.deadline = Clock::now() + options_.idle_timeout;
  }
}

bool AdminServer::Loop::OnReadable(Connection& c) {
  char buf[kReadChunk];
  ssize_t n = ::recv(c.fd.get(), buf, sizeof(buf), 0);
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  if (c.phase == Phase::kLingering) return n > 0;  // dropped; EOF ends the linger
  if (n == 0) return false;  // closed before a complete request: nothing to answer
  c.received += static_cast<size_t>(n);
  // Checked here as well as by the reader: a body or pipelined bytes count against the limit too.
  if (c.received > options_.max_request_bytes) {
    Respond(c, AdminResponse::Error(431, "request larger than " + std::to_string(options_.max_request_bytes) + " bytes"));
    return OnWritable(c);
  }
  auto fed = c.reader.Feed(std::string_view(buf, static_cast<size_t>(n)));
  for (const auto& event : fed.events) {
    if (event.kind == http::HttpEvent::Kind::kError) {
      Respond(c, AdminResponse::Error(event.error.status, event.error.reason));
      return OnWritable(c);
    }
    if (event.kind == http::HttpEvent::Kind::kHead) {
      if (event.head.method != "GET") {
        Respond(c, AdminResponse::Error(405, "only GET is served here, not " + event.head.method), true);
      } else if (event.head.framing != http::BodyFraming::kNone) {
        Respond(c, AdminResponse::Error(400, "a GET request must not carry a body"));
      } else {
        Respond(c, Route(event.head));
      }
      return OnWritable(c);
    }
  }
  return true;
}

AdminResponse AdminServer::Loop::Route(const http::MessageHead& head) {
  AdminRequest request;
  if (!ParseRequestTarget(head.target, request)) return AdminResponse::Error(400, "invalid percent-encoding in the target");
  auto route = routes_.find(request.path);
  if (route == routes_.end()) {
    std::string known;
    for (const auto& [path, handler] : routes_) known += (known.empty() ? "" : ", ") + path;
    return AdminResponse::Error(404, "no endpoint " + request.path + "; known: " + known);
  }
  try {
    return route->second(request);
  } catch (const std::exception& e) {
    // A handler bug must not take the agent down: the operator gets a 500 with the reason.
    spdlog::error("{} endpoint {}: {}", options_.name, request.path, e.what());
    return AdminResponse::Error(500, std::string("handler failed: ") + e.what());
  }
}

void AdminServer::Loop::Respond(Connection& c, const AdminResponse& response, bool allow_header) {
  c.out = Serialize(response, allow_header);
  c.sent = 0;
  c.phase = Phase::kWriting;
  c.deadline = Clock::now() + options_.idle_timeout;
}

bool AdminServer::Loop::OnWritable(Connection& c) {
  while (c.sent < c.out.size()) {
    ssize_t n = ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    c.sent += static_cast<size_t>(n);
  }
  ::shutdown(c.fd.get(), SHUT_WR);
  c.out.clear();
  c.phase = Phase::kLingering;
  c.deadline = Clock::now() + kLingerTime;
  return true;
}

Result<std::unique_ptr<AdminServer>> AdminServer::Start(AdminServerOptions options, AdminRoutes routes) {
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listener) return ErrnoError("socket");
  int one = 1;
  // A restarted agent rebinds while its old connections sit in TIME_WAIT.
  ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa = options.listen.ToSockaddr();
  std::string what = options.name + " endpoint: listen on " + options.listen.ToString();
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return ErrnoError(what);
  if (::listen(listener.get(), 64) != 0) return ErrnoError(what);
  socklen_t len = sizeof(sa);
  if (::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0) return ErrnoError("getsockname");
  UniqueFd stop_event(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_event) return ErrnoError("eventfd");
  auto loop = std::make_unique<Loop>(std::move(options), std::move(routes), std::move(listener));
  return std::unique_ptr<AdminServer>(new AdminServer(Ipv4Endpoint::FromSockaddr(sa), std::move(stop_event), std::move(loop)));
}

AdminServer::AdminServer(Ipv4Endpoint local, UniqueFd stop_event, std::unique_ptr<Loop> loop)
    : local_(local), stop_event_(std::move(stop_event)), loop_(std::move(loop)) {
  thread_ = std::thread([this] { loop_->Run(stop_event_.get()); });
}

AdminServer::~AdminServer() {
  uint64_t one = 1;
  (void)!::write(stop_event_.get(), &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
}

}  // namespace ferry::admin
