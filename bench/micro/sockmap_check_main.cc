// ferry-bench-sockmap-check: probes the edge cases that decide whether the agent can use the
// sockmap fast path (SockmapRelay): bytes sent before the insert, ordering and loss over long
// streams, whether a propagated FIN can overtake bytes still in the kernel's backlog, and what
// happens when the far end stops reading.
// Each check prints what it observed; the exit status is 1 when a byte was lost or reordered.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "sockmap_relay.h"
#include "support/loopback_sockets.h"

namespace ferry::bench {
namespace {

// Byte `offset` of every checked stream: a different 64-bit word every 8 bytes, so a lost,
// duplicated or reordered chunk shows up at the first wrong offset.
uint8_t PatternByte(uint64_t offset) {
  return static_cast<uint8_t>(((offset / 8 + 1) * 0x9E3779B97F4A7C15ull) >> (8 * (offset % 8)));
}

void FillPattern(uint64_t offset, uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) p[i] = PatternByte(offset + i);
}

using ferry::testing::WriteAll;

// Reads exactly `size` bytes unless EOF, an error or `timeout` comes first; returns bytes read.
size_t RecvFor(int fd, void* data, size_t size, std::chrono::milliseconds timeout) {
  auto* p = static_cast<uint8_t*>(data);
  size_t got = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (got < size) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd pfd{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) break;
    ssize_t n = ::recv(fd, p + got, size - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

// What the checking sink saw on a 'V' connection.
struct VerifyReply {
  uint64_t bytes = 0;
  uint64_t first_bad = ~0ull;  // offset of the first byte off the pattern, ~0 when none
};

// The far end. The client's first byte picks the behaviour: 'V' (followed by the 8-byte length
// the client will send) reads to EOF checking the pattern, counts streams that ended short or
// off the pattern, and answers a VerifyReply; 'E' echoes; 'S' is 'V' without the length that
// stops reading for 6 s after its first read (a stalled application).
class CheckSink {
 public:
  // greet: a server-first sink that sends 64 B of the pattern as soon as it accepts.
  explicit CheckSink(bool greet = false)
      : greet_(greet), listener_(ferry::testing::BoundLoopbackSocket(512)), stop_(::eventfd(0, EFD_CLOEXEC)) {
    address_ = ferry::testing::LocalAddress(listener_.get());
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~CheckSink() {
    uint64_t one = 1;
    (void)::write(stop_.get(), &one, sizeof(one));
    acceptor_.join();
    for (auto& t : handlers_) t.join();
  }
  Ipv4Endpoint address() const { return address_; }

 private:
  void AcceptLoop() {
    for (;;) {
      pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) continue;
      if (fds[1].revents != 0) return;
      int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) handlers_.emplace_back([this, fd] { Serve(UniqueFd(fd)); });
    }
  }
  void Serve(UniqueFd fd) {
    uint8_t greeting[64];
    FillPattern(0, greeting, sizeof(greeting));
    if (greet_ && !WriteAll(fd.get(), greeting, sizeof(greeting))) return;
    char mode = 0;
    uint64_t expected = 0;
    if (::recv(fd.get(), &mode, 1, MSG_WAITALL) != 1) return;
    if (mode == 'V' && ::recv(fd.get(), &expected, sizeof(expected), MSG_WAITALL) != sizeof(expected)) return;
    std::vector<uint8_t> buf(1 << 18);
    VerifyReply reply;
    for (;;) {
      ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (mode == 'E' && !WriteAll(fd.get(), buf.data(), static_cast<size_t>(n))) return;
      if (mode == 'S' && reply.bytes == 0) std::this_thread::sleep_for(std::chrono::seconds(6));
      for (ssize_t i = 0; mode != 'E' && reply.first_bad == ~0ull && i < n; ++i) {
        if (buf[i] != PatternByte(reply.bytes + i)) reply.first_bad = reply.bytes + i;
      }
      reply.bytes += static_cast<uint64_t>(n);
    }
    if (mode == 'E') return;
    if (mode == 'V' && reply.bytes != expected) short_streams_.fetch_add(1);
    if (reply.first_bad != ~0ull) corrupt_streams_.fetch_add(1);
    (void)WriteAll(fd.get(), &reply, sizeof(reply));
  }

 public:
  uint64_t short_streams() const { return short_streams_.load(); }
  uint64_t corrupt_streams() const { return corrupt_streams_.load(); }

 private:
  std::atomic<uint64_t> short_streams_{0}, corrupt_streams_{0};

  bool greet_;
  UniqueFd listener_;
  UniqueFd stop_;
  Ipv4Endpoint address_;
  std::vector<std::thread> handlers_;
  std::thread acceptor_;
};

void PrintCounters(const SockmapRelayCounters& c) { std::printf("  relay: %s\n", Describe(c).c_str()); }

UniqueFd Connect(const Ipv4Endpoint& to) {
  UniqueFd fd = ferry::testing::ConnectTo(to);
  int one = 1;
  if (fd) ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

// Sends `bytes` of the pattern and half-closes at once; with a `linger`, pauses that long after
// the first half (so the relay pairs the sockets while the stream is open). Returns what the sink
// saw (bytes == ~0 when the connection failed before the reply).
VerifyReply SendChecked(const Ipv4Endpoint& to, uint64_t bytes,
                        std::chrono::microseconds linger = std::chrono::microseconds(0)) {
  VerifyReply reply{~0ull, ~0ull};
  UniqueFd fd = Connect(to);
  if (!fd || !WriteAll(fd.get(), "V", 1) || !WriteAll(fd.get(), &bytes, sizeof(bytes))) return reply;
  std::vector<uint8_t> buf(1 << 18);
  uint64_t pause_at = linger.count() > 0 ? bytes / 2 : ~0ull;
  for (uint64_t sent = 0; sent < bytes;) {
    uint64_t end = sent < pause_at ? std::min(pause_at, bytes) : bytes;
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - sent));
    FillPattern(sent, buf.data(), n);
    if (!WriteAll(fd.get(), buf.data(), n)) return reply;
    sent += n;
    if (sent == pause_at) std::this_thread::sleep_for(linger);
  }
  ::shutdown(fd.get(), SHUT_WR);
  if (RecvFor(fd.get(), &reply, sizeof(reply), std::chrono::seconds(30)) != sizeof(reply)) reply.bytes = ~0ull;
  return reply;
}

// Early data: 'E' + 64 B leave the client before the relay inserts its sockets (the relay holds
// every connection `delay` first). Does the echo come back without further client bytes?
bool CheckEarlyData(const Ipv4Endpoint& sink, bool kick) {
  SockmapRelayOptions options;
  options.kick_after_insert = kick;
  options.insert_delay = std::chrono::milliseconds(100);
  auto relay = SockmapRelay::Start(sink, options);
  if (!relay) {
    std::printf("early data: cannot start the relay: %s\n", relay.error().Message().c_str());
    return false;
  }
  UniqueFd fd = Connect((*relay)->address());
  uint8_t request[65] = {'E'}, reply[128];
  FillPattern(0, request + 1, 64);
  WriteAll(fd.get(), request, sizeof(request));
  auto start = std::chrono::steady_clock::now();
  size_t got = RecvFor(fd.get(), reply, 64, std::chrono::seconds(2));
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("early data, %s: %zu of 64 B echoed within 2 s (after %.1f ms; the insert waited 100 ms)\n",
              kick ? "SO_RCVLOWAT kick after insert" : "no kick", got, ms);
  if (got < 64) {  // the next data_ready should run the verdict over everything queued
    WriteAll(fd.get(), request + 1, 64);
    size_t more = RecvFor(fd.get(), reply + got, 128 - got, std::chrono::seconds(2));
    std::printf("  after 64 more client bytes: %zu more B echoed (expected %zu)\n", more, 128 - got);
  }
  bool ok = got == 64 && std::memcmp(reply, request + 1, 64) == 0;
  fd.Reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  PrintCounters((*relay)->counters());
  return ok;
}

// Server first: the upstream greets while the relay is pairing (held `pair_delay` between the
// upstream's insert and the client's, so with a delay the greeting always lands in that window). The
// greeting and the echoes after it must arrive intact and in order.
bool CheckServerFirst(const Ipv4Endpoint& greeting_sink, std::chrono::milliseconds pair_delay, int connections) {
  SockmapRelayOptions options;
  options.pair_delay = pair_delay;
  auto relay = SockmapRelay::Start(greeting_sink, options);
  if (!relay) return false;
  int bad = 0;
  for (int i = 0; i < connections; ++i) {
    UniqueFd fd = Connect((*relay)->address());
    uint8_t expected[64], got[64];
    FillPattern(0, expected, sizeof(expected));
    bool ok = RecvFor(fd.get(), got, sizeof(got), std::chrono::seconds(2)) == sizeof(got) &&
              std::memcmp(got, expected, sizeof(got)) == 0 && WriteAll(fd.get(), "E", 1);
    for (int k = 0; ok && k < 20; ++k) {
      FillPattern(static_cast<uint64_t>(k + 1) * 64, expected, sizeof(expected));
      ok = WriteAll(fd.get(), expected, sizeof(expected)) &&
           RecvFor(fd.get(), got, sizeof(got), std::chrono::seconds(2)) == sizeof(got) &&
           std::memcmp(got, expected, sizeof(got)) == 0;
    }
    bad += ok ? 0 : 1;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::printf("server first, %lld ms between the two inserts, %d connections (greeting + 20 echoes): %d bad\n",
              static_cast<long long>(pair_delay.count()), connections, bad);
  PrintCounters((*relay)->counters());
  return bad == 0;
}

// Ordering and loss over one long stream and over many 64 B round trips with distinct contents.
bool CheckOrdering(const Ipv4Endpoint& entry, uint64_t mib, int round_trips) {
  VerifyReply r = SendChecked(entry, mib << 20);
  bool stream_ok = r.bytes == (mib << 20) && r.first_bad == ~0ull;
  std::printf("ordering, %llu MiB stream: sink got %llu B, first bad offset %s\n",
              static_cast<unsigned long long>(mib), static_cast<unsigned long long>(r.bytes),
              r.first_bad == ~0ull ? "none" : std::to_string(r.first_bad).c_str());
  UniqueFd fd = Connect(entry);
  WriteAll(fd.get(), "E", 1);
  int bad = 0;
  uint8_t request[64], reply[64];
  for (int i = 0; i < round_trips; ++i) {
    FillPattern(static_cast<uint64_t>(i) * 64, request, sizeof(request));
    if (!WriteAll(fd.get(), request, sizeof(request)) ||
        RecvFor(fd.get(), reply, sizeof(reply), std::chrono::seconds(5)) != sizeof(reply) ||
        std::memcmp(request, reply, sizeof(reply)) != 0) {
      ++bad;
    }
  }
  std::printf("ordering, %d x 64 B round trips: %d wrong or missing echoes\n", round_trips, bad);
  return stream_ok && bad == 0;
}

// EOF: many short connections of random size, each half-closed right after its last byte. Without
// a linger many clients have half-closed before the relay inserts them (copied in user space); a
// linger after the first half lets the relay pair the sockets while the stream is open. A FIN that overtakes redirected bytes shows up as a short
// count at the sink (client -> sink) or as a missing reply (sink -> client).
bool CheckEof(const CheckSink& sink, bool drain, int connections, uint64_t max_bytes,
              std::chrono::microseconds linger) {
  SockmapRelayOptions options;
  options.drain_before_shutdown = drain;
  auto relay = SockmapRelay::Start(sink.address(), options);
  uint64_t sink_short = sink.short_streams(), sink_corrupt = sink.corrupt_streams();
  if (!relay) return false;
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<uint64_t> size(1024, max_bytes);
  int short_counts = 0, corrupt = 0, failed = 0;
  for (int i = 0; i < connections; ++i) {
    uint64_t bytes = size(rng);
    VerifyReply r = SendChecked((*relay)->address(), bytes, linger);
    if (r.bytes == ~0ull) {
      ++failed;
    } else if (r.bytes != bytes) {
      if (short_counts++ < 5) {
        std::printf("  short: sent %llu, sink got %llu\n", static_cast<unsigned long long>(bytes),
                    static_cast<unsigned long long>(r.bytes));
      }
    } else if (r.first_bad != ~0ull) {
      ++corrupt;
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::printf("EOF, %s, %d connections of 1 KiB..%llu KiB, client paused %lld us mid-stream: %d short, "
              "%d corrupt, %d without reply; the sink saw %llu short and %llu corrupt streams\n",
              drain ? "relay FIN after the backlog drained" : "relay FIN at once", connections,
              static_cast<unsigned long long>(max_bytes >> 10), static_cast<long long>(linger.count()),
              short_counts, corrupt, failed, static_cast<unsigned long long>(sink.short_streams() - sink_short),
              static_cast<unsigned long long>(sink.corrupt_streams() - sink_corrupt));
  PrintCounters((*relay)->counters());
  return short_counts == 0 && corrupt == 0 && failed == 0 && sink.short_streams() == sink_short &&
         sink.corrupt_streams() == sink_corrupt;
}

// The kernel's TCP memory in pages ("TCP: ... mem N" of /proc/net/sockstat), machine-wide.
long TcpMemPages() {
  std::FILE* f = std::fopen("/proc/net/sockstat", "r");
  if (!f) return -1;
  char line[256];
  long pages = -1;
  while (std::fgets(line, sizeof(line), f)) {
    const char* mem = std::strstr(line, " mem ");
    if (std::strncmp(line, "TCP:", 4) == 0 && mem) pages = std::atol(mem + 5);
  }
  std::fclose(f);
  return pages;
}

// MemAvailable of /proc/meminfo in MiB (machine-wide, so only large differences mean anything).
long MemAvailableMib() {
  std::FILE* f = std::fopen("/proc/meminfo", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof(line), f)) {
    if (std::sscanf(line, "MemAvailable: %ld kB", &kib) == 1) break;
  }
  std::fclose(f);
  return kib / 1024;
}

// Backpressure: the sink stops reading. How many bytes can the client push before its sends stop
// making progress? Direct, that is the two sockets' buffers; through the relay, whatever the
// kernel queues on the way (a fast path without backpressure grows without bound). Returns the
// bytes pushed; `intact` says whether the sink got all of them, in order, once it read again.
uint64_t BytesUntilStalled(const Ipv4Endpoint& entry, bool& intact) {
  long before = TcpMemPages(), available_before = MemAvailableMib();
  UniqueFd fd = Connect(entry);
  WriteAll(fd.get(), "S", 1);
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
  std::vector<uint8_t> buf(1 << 16);
  uint64_t sent = 0;
  auto last_progress = std::chrono::steady_clock::now();
  while (sent < (512ull << 20) && std::chrono::steady_clock::now() - last_progress < std::chrono::milliseconds(300)) {
    FillPattern(sent, buf.data(), buf.size());
    ssize_t n = ::send(fd.get(), buf.data(), buf.size(), MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<uint64_t>(n);
      last_progress = std::chrono::steady_clock::now();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  long pages = TcpMemPages(), available = MemAvailableMib();
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  ::shutdown(fd.get(), SHUT_WR);
  VerifyReply reply{~0ull, ~0ull};
  (void)RecvFor(fd.get(), &reply, sizeof(reply), std::chrono::seconds(30));
  std::printf("  stalled after %.1f MiB; TCP memory then %ld pages (before: %ld), MemAvailable %ld MiB (before: %ld); "
              "after the stall the sink got %llu B, first bad offset %s\n",
              static_cast<double>(sent) / (1 << 20), pages, before, available, available_before,
              static_cast<unsigned long long>(reply.bytes),
              reply.first_bad == ~0ull ? "none" : std::to_string(reply.first_bad).c_str());
  intact = reply.bytes == sent && reply.first_bad == ~0ull;
  return sent;
}

bool CheckBackpressure(const Ipv4Endpoint& sink) {
  auto relay = SockmapRelay::Start(sink, SockmapRelayOptions{});
  if (!relay) return false;
  bool direct_intact = false, relayed_intact = false;
  uint64_t direct = BytesUntilStalled(sink, direct_intact);
  uint64_t relayed = BytesUntilStalled((*relay)->address(), relayed_intact);
  std::printf("backpressure, sink stops reading: the client could send %.1f MiB direct, %.1f MiB through the "
              "sockmap relay before its sends stalled (cap 512 MiB, within the sink's 6 s stall)\n",
              static_cast<double>(direct) / (1 << 20), static_cast<double>(relayed) / (1 << 20));
  PrintCounters((*relay)->counters());
  return direct_intact && relayed_intact;
}

}  // namespace
}  // namespace ferry::bench

int main(int argc, char** argv) {
  using namespace ferry::bench;
  uint64_t mib = 2048, eof_max_kib = 64, eof_linger_us = 2000;
  int round_trips = 10000, connections = 2000;
  CLI::App app{"Edge cases of the sockmap relay: early data, ordering, EOF (needs root)"};
  app.add_option("--mib", mib, "MiB in the ordering stream")->capture_default_str();
  app.add_option("--round-trips", round_trips, "64 B round trips in the ordering check")->capture_default_str();
  app.add_option("--connections", connections, "short connections per EOF check")->capture_default_str();
  app.add_option("--eof-max-kib", eof_max_kib, "largest short connection, KiB")->capture_default_str();
  app.add_option("--eof-linger-us", eof_linger_us, "client pause mid-stream in the second EOF round")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  CheckSink sink;
  bool ok = true;
  ok &= CheckEarlyData(sink.address(), true);
  (void)CheckEarlyData(sink.address(), false);  // shows why the kick is needed; not a failure
  {
    auto relay = SockmapRelay::Start(sink.address(), SockmapRelayOptions{});
    if (!relay) {
      std::printf("cannot start the relay: %s\n", relay.error().Message().c_str());
      return 1;
    }
    ok &= CheckOrdering((*relay)->address(), mib, round_trips);
  }
  {
    CheckSink greeting_sink(true);
    ok &= CheckServerFirst(greeting_sink.address(), std::chrono::milliseconds(0), 200);
    ok &= CheckServerFirst(greeting_sink.address(), std::chrono::milliseconds(20), 50);
  }
  for (auto linger : {std::chrono::microseconds(0), std::chrono::microseconds(eof_linger_us)}) {
    ok &= CheckEof(sink, true, connections, eof_max_kib << 10, linger);
    (void)CheckEof(sink, false, connections, eof_max_kib << 10, linger);  // the race it guards against
  }
  ok &= CheckBackpressure(sink.address());
  std::printf("%s\n", ok ? "all checks passed" : "SOME CHECKS FAILED");
  return ok ? 0 : 1;
}
