// ferry-bench-connrate: new TCP connections per second with a 1-byte exchange (issue #7's
// "connrate" workload), because neither sockperf nor iperf3 measures connection setup.
//
//   ferry-bench-connrate server --port 7000 [--threads 2]
//   ferry-bench-connrate client --to 198.18.1.3:7000 [--seconds 3] [--threads 2]
//
// Each client thread loops: socket, connect, send 1 byte, receive 1 byte, close. The server
// answers the byte and closes first, so TIME_WAIT lands on the server's side of the 4-tuple and
// the client's ephemeral ports are not exhausted by a multi-second run. The client prints one
// JSON line: {"connections":N,"errors":E,"seconds":S,"per_second":R}. Standalone (no Ferry
// library; CLI11 is header-only) so that it builds with a plain compiler call and runs inside any pod.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench_net.h"

namespace {

using ferry::bench::Fd;
using ferry::bench::ParseEndpoint;

struct Options {
  std::string to;
  int port = 7000;
  int threads = 2;
  double seconds = 3.0;
};

bool ExchangeOneByte(int fd, bool send_first) {
  char byte = 'x';
  if (send_first && ::send(fd, &byte, 1, MSG_NOSIGNAL) != 1) return false;
  if (::recv(fd, &byte, 1, 0) != 1) return false;
  if (!send_first && ::send(fd, &byte, 1, MSG_NOSIGNAL) != 1) return false;
  return true;
}

// Accepts until killed; every thread shares the listener (the kernel spreads accepts).
int RunServer(const Options& o) {
  Fd listener(::socket(AF_INET, SOCK_STREAM, 0));
  int one = 1;
  ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(o.port));
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listener.get(), 4096) != 0) {
    std::perror("connrate server: bind/listen");
    return 1;
  }
  std::vector<std::thread> workers;
  for (int t = 0; t < o.threads; ++t) {
    workers.emplace_back([&] {
      for (;;) {
        int raw = ::accept(listener.get(), nullptr, nullptr);
        if (raw < 0) continue;
        Fd conn(raw);
        ::setsockopt(conn.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        ExchangeOneByte(conn.get(), /*send_first=*/false);
      }
    });
  }
  for (auto& w : workers) w.join();
  return 0;
}

int RunClient(const Options& o) {
  sockaddr_in target{};
  if (!ParseEndpoint(o.to, target)) {
    std::fprintf(stderr, "connrate client: bad --to %s\n", o.to.c_str());
    return 2;
  }
  std::atomic<uint64_t> connections{0}, errors{0};
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(o.seconds));
  std::vector<std::thread> workers;
  for (int t = 0; t < o.threads; ++t) {
    workers.emplace_back([&] {
      int one = 1;
      while (std::chrono::steady_clock::now() < deadline) {
        Fd conn(::socket(AF_INET, SOCK_STREAM, 0));
        ::setsockopt(conn.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        bool ok = ::connect(conn.get(), reinterpret_cast<sockaddr*>(&target), sizeof(target)) == 0 &&
                  ExchangeOneByte(conn.get(), /*send_first=*/true);
        (ok ? connections : errors).fetch_add(1, std::memory_order_relaxed);
        // A refused or reset connection returns at once: do not spin the CPU the path needs.
        if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    });
  }
  for (auto& w : workers) w.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("{\"connections\":%llu,\"errors\":%llu,\"seconds\":%.3f,\"per_second\":%.1f}\n",
              static_cast<unsigned long long>(connections.load()), static_cast<unsigned long long>(errors.load()),
              elapsed, static_cast<double>(connections.load()) / elapsed);
  return connections.load() > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"New TCP connections per second with a 1-byte exchange (issue #7's connrate)"};
  app.require_subcommand(1);
  CLI::App* server = app.add_subcommand("server", "answer each connection's byte, then close");
  server->add_option("--port", o.port, "port to listen on")->capture_default_str()->check(CLI::Range(1, 65535));
  server->add_option("--threads", o.threads, "accepting threads")->capture_default_str()->check(CLI::Range(1, 64));
  CLI::App* client = app.add_subcommand("client", "connect, send a byte, read a byte, close; in a loop");
  client->add_option("--to", o.to, "server as IP:PORT")->required();
  client->add_option("--seconds", o.seconds, "how long to run")->capture_default_str()->check(CLI::PositiveNumber);
  client->add_option("--threads", o.threads, "connecting threads")->capture_default_str()->check(CLI::Range(1, 64));
  CLI11_PARSE(app, argc, argv);
  return server->parsed() ? RunServer(o) : RunClient(o);
}
