// ferry-bench-http: the HTTP/1.1 workloads of issue #7 (1 KB responses), server and client in one
// standalone tool, because Debian has no wrk2 and ferry-example-app's api is a demo server.
//
//   ferry-bench-http serve --port P [--body-bytes 1024]
//   ferry-bench-http load --to IP:PORT [--rate 1000] [--seconds 5] [--connections 8] [--path /bench]
//   ferry-bench-http hold --to IP:PORT --connections N [--in-flight 64] [--hold-seconds 600]
//
// serve: one epoll thread, keep-alive, answers every request with a fixed body.
// load, --rate R > 0: open loop. Request i is due at start + i/R; it goes out on the first idle
//   keep-alive connection, and its latency counts from its due time (open_loop.h), so a slow
//   response neither pauses the schedule nor hides the requests that waited behind it.
// load, --rate 0: closed loop at saturation; every connection sends its next request as soon as
//   the previous response is in; requests/s over --seconds.
// hold: opens N connections, one request each, then keeps them open and idle until SIGTERM
//   (or --hold-seconds); prints {"established":N,"failed":F,"pid":P} once all are set up.
//
// Messages are framed by Content-Length only (http_frame.h): both ends are this tool.
#include <fcntl.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench_net.h"
#include "bench_stats.h"
#include "http_frame.h"
#include "open_loop.h"

namespace ferry::bench {
namespace {

struct Options {
  std::string to, path = "/bench";
  int port = 8080;
  size_t body_bytes = 1024;
  double rate = 1000, seconds = 5, hold_seconds = 600;
  int connections = 8, in_flight = 64;
};

void SetNoDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// Appends what the socket has; false on EOF or a hard error.
bool ReadAvailable(int fd, std::string& into) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      into.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

// ---- serve --------------------------------------------------------------------------------

struct ServerConnection {
  Fd fd;
  std::string in, out;
  size_t out_sent = 0;
  bool want_write = false;
};

class Server {
 public:
  explicit Server(size_t body_bytes)
      : response_("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body_bytes) +
                  "\r\n\r\n" + std::string(body_bytes, 'x')) {}

  int Run(int port) {
    epoll_ = Fd(::epoll_create1(EPOLL_CLOEXEC));
    listener_ = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    int one = 1;
    ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listener_.get(), 4096) != 0) {
      std::perror("ferry-bench-http serve: bind/listen");
      return 1;
    }
    Watch(listener_.get(), EPOLLIN, EPOLL_CTL_ADD);
    epoll_event events[256];
    for (;;) {
      int n = ::epoll_wait(epoll_.get(), events, 256, -1);
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == listener_.get()) {
          AcceptAll();
          continue;
        }
        auto it = conns_.find(fd);
        if (it == conns_.end()) continue;
        if (!Serve(*it->second, events[i].events)) conns_.erase(it);  // closes the fd
      }
    }
  }

 private:
  void Watch(int fd, uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_.get(), op, fd, &ev);
  }

  void AcceptAll() {
    for (;;) {
      int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      SetNoDelay(fd);
      auto conn = std::make_unique<ServerConnection>();
      conn->fd = Fd(fd);
      Watch(fd, EPOLLIN, EPOLL_CTL_ADD);
      conns_[fd] = std::move(conn);
    }
  }

  // Answers every whole request received and writes what the socket takes; false to close.
  bool Serve(ServerConnection& c, uint32_t events) {
    if (events & EPOLLIN) {
      bool open = ReadAvailable(c.fd.get(), c.in);
      size_t used = 0;
      for (;;) {
        HttpFrame f = FrameHttpMessage(std::string_view(c.in).substr(used), /*is_response=*/false);
        if (f.kind == HttpFrame::kInvalid) return false;
        if (f.kind == HttpFrame::kIncomplete) break;
        used += f.length;
        c.out += response_;
      }
      c.in.erase(0, used);
      if (!open && c.out.empty()) return false;
    }
    while (c.out_sent < c.out.size()) {
      ssize_t n = ::send(c.fd.get(), c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_sent += static_cast<size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else if (!(n < 0 && errno == EINTR)) {
        return false;
      }
    }
    if (c.out_sent == c.out.size()) {
      c.out.clear();
      c.out_sent = 0;
    }
    bool want_write = !c.out.empty();
    if (want_write != c.want_write) {
      Watch(c.fd.get(), want_write ? EPOLLIN | EPOLLOUT : EPOLLIN, EPOLL_CTL_MOD);
      c.want_write = want_write;
    }
    return true;
  }

  std::string response_;
  Fd epoll_, listener_;
  std::map<int, std::unique_ptr<ServerConnection>> conns_;
};

// ---- load ---------------------------------------------------------------------------------

std::string RequestText(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: bench\r\nUser-Agent: ferry-bench-http\r\n\r\n";
}

struct ClientConnection {
  Fd fd;
  std::string in;
  bool busy = false, dead = false;
  int64_t due_ns = 0, sent_ns = 0;
};

struct LoadCounts {
  uint64_t ok = 0, ok_in_window = 0, non2xx = 0, errors = 0, late_sends = 0;
};

class LoadGenerator {
 public:
  LoadGenerator(const Options& o, const sockaddr_in& target) : o_(o), target_(target), request_(RequestText(o.path)) {}

  bool Connect() {
    epoll_ = Fd(::epoll_create1(EPOLL_CLOEXEC));
    for (int i = 0; i < o_.connections; ++i) {
      Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&target_), sizeof(target_)) != 0) {
        std::perror("ferry-bench-http load: connect");
        return false;
      }
      SetNoDelay(fd.get());
      ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = static_cast<uint64_t>(i);
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd.get(), &ev);
      auto conn = std::make_unique<ClientConnection>();
      conn->fd = std::move(fd);
      conns_.push_back(std::move(conn));
      idle_.push_back(static_cast<size_t>(i));
    }
    return true;
  }

  void Run() {
    const int64_t interval = o_.rate > 0 ? static_cast<int64_t>(1e9 / o_.rate) : 0;
    const uint64_t total = o_.rate > 0 ? static_cast<uint64_t>(o_.rate * o_.seconds) : 0;
    start_ns_ = MonotonicNs() + 1'000'000;
    window_end_ns_ = start_ns_ + static_cast<int64_t>(o_.seconds * 1e9);
    const int64_t give_up_ns = window_end_ns_ + 2'000'000'000;  // responses still missing by then are errors
    OpenLoopSchedule schedule(start_ns_, interval, total);
    epoll_event events[64];
    for (;;) {
      int64_t now = MonotonicNs();
      if (o_.rate > 0) {
        schedule.Release(now);
        while (!idle_.empty() && schedule.backlog() > 0) Send(*schedule.TakeDue(), now);
      } else if (now >= start_ns_ && now < window_end_ns_) {
        while (!idle_.empty()) Send(now, now);
      }
      bool sending_done = o_.rate > 0 ? schedule.AllTaken() : now >= window_end_ns_;
      if ((sending_done && busy_ == 0) || now >= give_up_ns || Alive() == 0) break;
      int64_t wake = now + 50'000'000;
      if (o_.rate > 0 && !idle_.empty() && schedule.NextDueAt()) wake = std::min(wake, *schedule.NextDueAt());
      if (o_.rate <= 0 && now < start_ns_) wake = start_ns_;
      timespec timeout{0, std::max<int64_t>(0, wake - now)};
      if (timeout.tv_nsec >= 1'000'000'000) timeout = {timeout.tv_nsec / 1'000'000'000, timeout.tv_nsec % 1'000'000'000};
      int n = ::epoll_pwait2(epoll_.get(), events, 64, &timeout, nullptr);
      int64_t completed = MonotonicNs();
      for (int i = 0; i < n; ++i) OnReadable(events[i].data.u64, completed);
    }
    unfinished_ = busy_ + (o_.rate > 0 ? total - schedule.taken() : 0);
  }

  void PrintReport() const {
    const auto& lat = log_.from_schedule_us;
    auto pct = [&](const std::vector<double>& v, double p) { return Percentile(v, p).value_or(0.0); };
    double max = lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end());
    std::printf(
        "{\"mode\":\"%s\",\"connections\":%d,\"rate\":%.1f,\"seconds\":%.3f,\"requests\":%llu,"
        "\"per_second\":%.1f,\"non2xx\":%llu,\"errors\":%llu,\"unfinished\":%llu,\"late_sends\":%llu,"
        "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
        "\"from_send_p99_us\":%.1f}\n",
        o_.rate > 0 ? "open" : "closed", o_.connections, o_.rate, o_.seconds,
        static_cast<unsigned long long>(counts_.ok), static_cast<double>(counts_.ok_in_window) / o_.seconds,
        static_cast<unsigned long long>(counts_.non2xx), static_cast<unsigned long long>(counts_.errors),
        static_cast<unsigned long long>(unfinished_), static_cast<unsigned long long>(counts_.late_sends),
        pct(lat, 50), pct(lat, 90), pct(lat, 99), pct(lat, 99.9), max, pct(log_.from_send_us, 99));
  }

  bool Healthy() const { return counts_.ok > 0 && counts_.errors == 0 && counts_.non2xx == 0 && unfinished_ == 0; }

 private:
  size_t Alive() const {
    return static_cast<size_t>(std::count_if(conns_.begin(), conns_.end(), [](const auto& c) { return !c->dead; }));
  }

  void Send(int64_t due, int64_t now) {
    size_t index = idle_.back();
    idle_.pop_back();
    ClientConnection& c = *conns_[index];
    // The request fits the socket buffer of an idle keep-alive connection: one send.
    if (::send(c.fd.get(), request_.data(), request_.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request_.size())) {
      Kill(c);
      return;
    }
    if (now - due > 1'000'000) ++counts_.late_sends;
    c.busy = true;
    c.due_ns = due;
    c.sent_ns = now;
    ++busy_;
  }

  void OnReadable(uint64_t index, int64_t now) {
    ClientConnection& c = *conns_[index];
    if (c.dead) return;
    bool open = ReadAvailable(c.fd.get(), c.in);
    HttpFrame f = FrameHttpMessage(c.in, /*is_response=*/true);
    if (f.kind == HttpFrame::kComplete && c.busy) {
      c.in.erase(0, f.length);
      c.busy = false;
      --busy_;
      if (f.status == 200) {
        ++counts_.ok;
        if (now <= window_end_ns_) ++counts_.ok_in_window;
        log_.Record(c.due_ns, c.sent_ns, now);
      } else {
        ++counts_.non2xx;
      }
      idle_.push_back(index);
    } else if (f.kind == HttpFrame::kInvalid || (f.kind == HttpFrame::kComplete && !c.busy)) {
      Kill(c);
      return;
    }
    if (!open) Kill(c);
  }

  // A connection that failed is dropped (no reconnect): its request counts as an error.
  void Kill(ClientConnection& c) {
    if (c.dead) return;
    c.dead = true;
    ++counts_.errors;
    if (c.busy) --busy_;
    c.busy = false;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
    idle_.erase(std::remove_if(idle_.begin(), idle_.end(), [&](size_t i) { return conns_[i].get() == &c; }),
                idle_.end());
  }

  const Options& o_;
  sockaddr_in target_;
  std::string request_;
  Fd epoll_;
  std::vector<std::unique_ptr<ClientConnection>> conns_;
  std::vector<size_t> idle_;
  size_t busy_ = 0;
  uint64_t unfinished_ = 0;
  int64_t start_ns_ = 0, window_end_ns_ = 0;
  LoadCounts counts_;
  LatencyLog log_;
};

// ---- hold ---------------------------------------------------------------------------------

// Opens `count` connections with at most `in_flight` being set up at once (the agent bounds
// concurrent tunnel setups), one request and response on each, and keeps them.
class IdleConnections {
 public:
  IdleConnections(const Options& o, const sockaddr_in& target) : o_(o), target_(target), request_(RequestText(o.path)) {}

  void Open(int count) {
    epoll_ = Fd(::epoll_create1(EPOLL_CLOEXEC));
    const int64_t give_up_ns = MonotonicNs() + 300'000'000'000;
    epoll_event events[64];
    while ((started_ < count || pending_ > 0) && MonotonicNs() < give_up_ns) {
      while (started_ < count && pending_ < o_.in_flight) Start();
      int n = ::epoll_wait(epoll_.get(), events, 64, 1000);
      for (int i = 0; i < n; ++i) Progress(events[i].data.u64, events[i].events);
    }
  }

  void PrintReport() const {
    std::printf("{\"established\":%zu,\"failed\":%zu,\"pid\":%d}\n", established_, failed_, static_cast<int>(::getpid()));
    std::fflush(stdout);
  }

 private:
  struct Pending {
    Fd fd;
    std::string in;
    bool sent = false;
  };

  void Start() {
    ++started_;
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0 || (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&target_), sizeof(target_)) != 0 &&
                         errno != EINPROGRESS)) {
      ++failed_;
      return;
    }
    SetNoDelay(fd.get());
    uint64_t id = next_id_++;
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.u64 = id;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd.get(), &ev);
    setting_up_[id] = Pending{std::move(fd), {}, false};
    ++pending_;
  }

  void Progress(uint64_t id, uint32_t events) {
    auto it = setting_up_.find(id);
    if (it == setting_up_.end()) return;
    Pending& p = it->second;
    bool failed = (events & (EPOLLERR | EPOLLHUP)) != 0;
    if (!failed && !p.sent && (events & EPOLLOUT)) {
      failed = ::send(p.fd.get(), request_.data(), request_.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request_.size());
      p.sent = true;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = id;
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, p.fd.get(), &ev);
    }
    HttpFrame f{};
    if (!failed && (events & EPOLLIN)) {
      failed = !ReadAvailable(p.fd.get(), p.in);
      f = FrameHttpMessage(p.in, /*is_response=*/true);
      failed = failed || f.kind == HttpFrame::kInvalid || (f.kind == HttpFrame::kComplete && f.status != 200);
    }
    if (!failed && f.kind != HttpFrame::kComplete) return;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, p.fd.get(), nullptr);
    if (failed) {
      ++failed_;
    } else {
      ++established_;
      kept_.push_back(std::move(p.fd));
    }
    setting_up_.erase(it);
    --pending_;
  }

  const Options& o_;
  sockaddr_in target_;
  std::string request_;
  Fd epoll_;
  std::map<uint64_t, Pending> setting_up_;
  std::vector<Fd> kept_;
  uint64_t next_id_ = 0;
  int started_ = 0, pending_ = 0;
  size_t established_ = 0, failed_ = 0;
};

// Waits for SIGTERM/SIGINT, or SIGALRM after `seconds`.
void WaitForStop(double seconds) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGALRM);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  ::alarm(static_cast<unsigned>(std::max(1.0, seconds)));
  int sig = 0;
  ::sigwait(&set, &sig);
}

int Main(int argc, char** argv) {
  Options o;
  CLI::App app{"HTTP/1.1 load for issue #7: a 1 KB server, an open or closed loop, idle connections"};
  app.require_subcommand(1);
  CLI::App* serve_cmd = app.add_subcommand("serve", "answer every request with a fixed body");
  serve_cmd->add_option("--port", o.port, "port to listen on")->capture_default_str()->check(CLI::Range(1, 65535));
  serve_cmd->add_option("--body-bytes", o.body_bytes, "response body size")->capture_default_str();
  CLI::App* load_cmd = app.add_subcommand("load", "send requests; report latency and rate as JSON");
  load_cmd->add_option("--to", o.to, "server as IP:PORT")->required();
  load_cmd->add_option("--rate", o.rate, "requests per second (0: closed loop)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  load_cmd->add_option("--seconds", o.seconds, "how long to send")->capture_default_str()->check(CLI::PositiveNumber);
  load_cmd->add_option("--connections", o.connections, "keep-alive connections")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  load_cmd->add_option("--path", o.path, "request path")->capture_default_str();
  CLI::App* hold_cmd = app.add_subcommand("hold", "open connections, one exchange each, keep them idle");
  hold_cmd->add_option("--to", o.to, "server as IP:PORT")->required();
  hold_cmd->add_option("--connections", o.connections, "connections to hold")->required()->check(CLI::Range(1, 1000000));
  hold_cmd->add_option("--in-flight", o.in_flight, "connections being set up at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  hold_cmd->add_option("--hold-seconds", o.hold_seconds, "how long to hold them")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  RaiseSoftFileLimit();
  ::prctl(PR_SET_TIMERSLACK, 1UL);  // the open loop's wake-ups are due to the microsecond
  if (serve_cmd->parsed()) return Server(o.body_bytes).Run(o.port);
  sockaddr_in target{};
  if (!ParseEndpoint(o.to, target)) {
    std::fprintf(stderr, "ferry-bench-http: bad --to %s\n", o.to.c_str());
    return 2;
  }
  if (hold_cmd->parsed()) {
    IdleConnections idle(o, target);
    idle.Open(o.connections);
    idle.PrintReport();
    WaitForStop(o.hold_seconds);
    return 0;
  }
  LoadGenerator load(o, target);
  if (!load.Connect()) return 1;
  load.Run();
  load.PrintReport();
  return load.Healthy() ? 0 : 1;
}

}  // namespace
}  // namespace ferry::bench

int main(int argc, char** argv) { return ferry::bench::Main(argc, argv); }
