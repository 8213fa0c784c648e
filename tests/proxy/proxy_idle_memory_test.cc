// Heap kept by idle tunnelled connections (issue #7's rss_per_conn, cross node): real mTLS tunnel
// legs (user-space records, as on kernels without kTLS) through two real engines over loopback,
// client -> engine A (client tunnel leg) -> engine B (server tunnel leg) -> server. Each
// connection carries one 1 KB exchange and is then held idle; the heap in use (glibc's
// mallinfo2, every arena) is compared before and after. Both "agents" live in this process, so
// the figure is the cost of one connection across both of them. Also here: the same tunnel
// carrying a bulk stream (the spill and TLS buffers that are now released must still carry
// every byte), and the resident share of a worker's provided-buffer pool after many relays.
#include <malloc.h>
#include <sys/socket.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "agent/tunnel/tunnel_leg.h"
#include "leg_fixture.h"
#include "tunnel/tls_test_support.h"

namespace ferry::proxy::testing {
namespace {

using tunnel::TlsRole;
using tunnel::testing::kClientId;
using tunnel::testing::kServerId;
using tunnel::testing::MakeContext;
using tunnel::testing::RecordingVerifier;
using tunnel::testing::TestCa;

// What the client leg asks for: a pod address, as the tunnel refuses loopback targets. Engine B
// relays every accepted request to the real loopback server instead.
constexpr uint32_t kPodIp = 0xC6120105;  // 198.18.1.5
const Ipv4Endpoint kPodTarget{kPodIp, 8080};
constexpr size_t kMessageBytes = 1024;
// Both engines together: 80 KiB per connection before spill buffers were released once drained
// and the TLS memory BIOs once empty (the benchmark saw 45 KiB of RSS per agent); about 39 KiB
// after, most of it OpenSSL's own per-connection state (the SSL object alone is 7.6 KiB). The
// bound, 24 KiB per engine, leaves room for allocator noise and fails the old code.
constexpr double kMaxBytesPerConnection = 48 * 1024;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitizedHeap = true;  // the sanitizer's allocator: mallinfo2 sees nothing, and
                                       // its shadow memory and quarantine swamp RssAnon
constexpr size_t kIdleConnections = 40;
#else
constexpr bool kSanitizedHeap = false;
constexpr size_t kIdleConnections = 500;
#endif

// Engine A's client legs and engine B's server legs, with the agents' TLS settings (two
// resumption tickets per handshake, kTLS off as on the benchmark's kernel).
class TunnelHandler : public ConnectionHandler {
 public:
  enum class Role { kInitiator, kAcceptor };
  TunnelHandler(Role role, std::shared_ptr<tunnel::TlsContext> context)
      : role_(role), context_(std::move(context)) {}

  void set_next_hop(Ipv4Endpoint next_hop) { next_hop_ = next_hop; }
  void set_server(Ipv4Endpoint server) { server_ = server; }

  Decision OnAccept(const AcceptedConnection& /*conn*/) override {
    if (role_ == Role::kInitiator) {
      auto leg = tunnel::MakeClientTunnelLeg({context_, kServerId, kPodTarget, /*allow_ktls=*/false});
      return ForwardPlan{NewUpstreamSocket(), next_hop_, nullptr, std::move(leg)};
    }
    return AcceptLegPlan{tunnel::MakeServerTunnelLeg({context_, kPodIp, /*allow_ktls=*/false}), nullptr};
  }

  Decision OnLegRequest(const AcceptedConnection& /*conn*/, const LegRequest& /*request*/,
                        const ConnectionInfo& /*info*/) override {
    return ForwardPlan{NewUpstreamSocket(), server_, nullptr};
  }

 private:
  Role role_;
  std::shared_ptr<tunnel::TlsContext> context_;
  Ipv4Endpoint next_hop_;
  Ipv4Endpoint server_;
};

size_t HeapInUse() {
  struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;  // small chunks in every arena + mmapped chunks
}

struct OpenConnection {
  UniqueFd client;
  UniqueFd server;
};

// One client through the tunnel and its server end, after a 1 KB request and a 1 KB reply.
bool OpenAndExchange(const Ipv4Endpoint& entry, int listener, std::vector<OpenConnection>* open) {
  OpenConnection conn;
  conn.client = Connect(entry);
  if (!conn.client.valid()) return false;
  SetReceiveTimeout(conn.client.get(), std::chrono::seconds(30));
  const std::string request(kMessageBytes, 'q');
  if (!WriteAll(conn.client.get(), request.data(), request.size())) return false;
  conn.server = UniqueFd(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  if (!conn.server.valid()) return false;
  SetReceiveTimeout(conn.server.get(), std::chrono::seconds(30));
  std::string got(kMessageBytes, '\0');
  if (!ReadExactly(conn.server.get(), got.data(), got.size()) || got != request) return false;
  const std::string reply(kMessageBytes, 'r');
  if (!WriteAll(conn.server.get(), reply.data(), reply.size())) return false;
  if (!ReadExactly(conn.client.get(), got.data(), got.size()) || got != reply) return false;
  open->push_back(std::move(conn));
  return true;
}

TEST(ProxyIdleMemory, IdleTunnelledConnectionsKeepLittleHeap) {
  TestCa ca;
  auto server_context = MakeContext(TlsRole::kServer, ca, kServerId, RecordingVerifier{}.Make(), {}, 2);
  auto client_context = MakeContext(TlsRole::kClient, ca, kClientId, RecordingVerifier{}.Make());
  UniqueFd listener = BoundSocket(1024);
  ASSERT_TRUE(listener.valid());

  TunnelHandler acceptor(TunnelHandler::Role::kAcceptor, server_context);
  acceptor.set_server(LocalAddress(listener.get()));
  EngineUnderTest b(&acceptor, LegTestOptions());
  TunnelHandler initiator(TunnelHandler::Role::kInitiator, client_context);
  initiator.set_next_hop(b.address);
  EngineUnderTest a(&initiator, LegTestOptions());
  ASSERT_TRUE(a.proxy && b.proxy);

  constexpr size_t kWarmup = 20;  // first-use costs (tables, OpenSSL caches) out of the figure
  std::vector<OpenConnection> open;
  open.reserve(kWarmup + kIdleConnections);
  auto idle = [&](size_t count) {
    return WaitFor([&] {
      ProxyStats sa = a.stats(), sb = b.stats();
      return sa.active == count && sb.active == count && sa.buffered_bytes == 0 && sb.buffered_bytes == 0;
    });
  };
  for (size_t i = 0; i < kWarmup; ++i) ASSERT_TRUE(OpenAndExchange(a.address, listener.get(), &open)) << i;
  ASSERT_TRUE(idle(kWarmup));
  size_t before = HeapInUse();

  for (size_t i = 0; i < kIdleConnections; ++i) {
    ASSERT_TRUE(OpenAndExchange(a.address, listener.get(), &open)) << "connection " << i;
  }
  ASSERT_TRUE(idle(kWarmup + kIdleConnections));
  size_t after = HeapInUse();
  EXPECT_EQ(a.stats().legs_userspace, kWarmup + kIdleConnections);
  EXPECT_EQ(b.stats().legs_userspace, kWarmup + kIdleConnections);

  double per_connection = after > before ? double(after - before) / kIdleConnections : 0.0;
  std::printf("[ idle heap ] %zu idle tunnelled connections: %.0f B per connection across both "
              "engines (%.2f KiB, %.2f KiB per engine; heap %zu -> %zu B)\n",
              kIdleConnections, per_connection, per_connection / 1024, per_connection / 2048, before, after);
  if (kSanitizedHeap) GTEST_SKIP() << "built with a sanitizer: its allocator hides the heap from mallinfo2";
  EXPECT_GT(after, before) << "mallinfo2 saw no allocation at all";
  EXPECT_LT(per_connection, kMaxBytesPerConnection);
}

// The same real tunnel carrying a bulk stream both ways: many records per receive, partial
// records across receives, spills that fill and drain over and over.
TEST(ProxyRealTunnel, UserSpaceTlsCarriesFourMebibytesIntactBothWays) {
  TestCa ca;
  auto server_context = MakeContext(TlsRole::kServer, ca, kServerId, RecordingVerifier{}.Make(), {}, 2);
  auto client_context = MakeContext(TlsRole::kClient, ca, kClientId, RecordingVerifier{}.Make());
  LoopbackServer echo(LoopbackServer::Echo);
  TunnelHandler acceptor(TunnelHandler::Role::kAcceptor, server_context);
  acceptor.set_server(echo.address());
  EngineUnderTest b(&acceptor, LegTestOptions());
  TunnelHandler initiator(TunnelHandler::Role::kInitiator, client_context);
  initiator.set_next_hop(b.address);
  EngineUnderTest a(&initiator, LegTestOptions());
  ASSERT_TRUE(a.proxy && b.proxy);

  const std::string payload = PseudoRandomBytes(4 << 20, 11);
  StreamEnd reply = EchoAll(a.address, payload);
  EXPECT_EQ(reply.error, 0);
  EXPECT_EQ(reply.data.size(), payload.size());
  EXPECT_TRUE(reply.data == payload) << "bytes differ after the tunnel";
  ASSERT_TRUE(WaitFor([&] { return a.stats().active == 0 && b.stats().active == 0; }));
  for (EngineUnderTest* engine : {&a, &b}) {
    ProxyStats stats = engine->stats();
    EXPECT_EQ(stats.completed, 1u);
    EXPECT_EQ(stats.legs_userspace, 1u);
    EXPECT_EQ(stats.buffered_bytes, 0u);
    EXPECT_EQ(stats.buffers_in_use, 0u);
  }
}

// Plain relays to one server.
class RelayHandler : public ConnectionHandler {
 public:
  explicit RelayHandler(Ipv4Endpoint server) : server_(server) {}
  Decision OnAccept(const AcceptedConnection& /*conn*/) override {
    return ForwardPlan{NewUpstreamSocket(), server_, nullptr};
  }

 private:
  Ipv4Endpoint server_;
};

// Resident anonymous memory of this process (/proc/self/status), in KiB; 0 when unreadable.
size_t ResidentAnonymousKib() {
  std::FILE* status = std::fopen("/proc/self/status", "r");
  if (status == nullptr) return 0;
  char line[256];
  size_t kib = 0;
  while (std::fgets(line, sizeof(line), status) != nullptr) {
    if (std::sscanf(line, "RssAnon: %zu kB", &kib) == 1) break;
  }
  std::fclose(status);
  return kib;
}

// One connection through the relay: a full buffer's worth each way, then both ends close.
bool RelayOnce(const Ipv4Endpoint& entry, int listener, size_t bytes) {
  UniqueFd client = Connect(entry);
  if (!client.valid()) return false;
  SetReceiveTimeout(client.get(), std::chrono::seconds(30));
  const std::string request(bytes, 'q');
  if (!WriteAll(client.get(), request.data(), request.size())) return false;
  UniqueFd server(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  if (!server.valid()) return false;
  SetReceiveTimeout(server.get(), std::chrono::seconds(30));
  std::string got(bytes, '\0');
  if (!ReadExactly(server.get(), got.data(), got.size()) || got != request) return false;
  if (!WriteAll(server.get(), got.data(), got.size())) return false;
  return ReadExactly(client.get(), got.data(), got.size()) && got == request;
}

// A worker's provided buffers (1024 x 16 KiB by default) are written by the kernel in ring
// order; a worker that never holds more than a few at once must not end up with all of them
// resident after enough connections have gone through it.
TEST(ProxyIdleMemory, QuietWorkersKeepMostOfTheirBufferPoolUntouched) {
  constexpr size_t kBufferBytes = 16384;
  UniqueFd listener = BoundSocket(1024);
  ASSERT_TRUE(listener.valid());
  RelayHandler handler(LocalAddress(listener.get()));
  ProxyOptions options;
  options.workers = 2;
  options.buffers_per_worker = 1024;
  options.buffer_size = kBufferBytes;
  EngineUnderTest engine(&handler, options);
  ASSERT_TRUE(engine.proxy);

  for (int i = 0; i < 10; ++i) ASSERT_TRUE(RelayOnce(engine.address, listener.get(), kBufferBytes)) << i;
  size_t before = ResidentAnonymousKib();
  constexpr size_t kConnections = 600;  // > 1024 receives per worker: the old ring touched all
  for (size_t i = 0; i < kConnections; ++i) {
    ASSERT_TRUE(RelayOnce(engine.address, listener.get(), kBufferBytes)) << "connection " << i;
  }
  ASSERT_TRUE(WaitFor([&] { return engine.stats().active == 0; }));
  size_t after = ResidentAnonymousKib();
  size_t grown = after > before ? after - before : 0;
  std::printf("[ buffers ] %zu relayed connections of 16 KiB each way: resident anonymous memory "
              "%zu -> %zu KiB (+%zu KiB)\n", kConnections, before, after, grown);
  if (kSanitizedHeap) GTEST_SKIP() << "built with a sanitizer: its shadow memory and quarantine swamp RssAnon";
  ASSERT_GT(before, 0u) << "no RssAnon in /proc/self/status";
  // Whole pools would be 2 x 16 MiB; the ring's first 64 buffers are 1 MiB per worker.
  EXPECT_LT(grown, 8u * 1024);
}

}  // namespace
}  // namespace ferry::proxy::testing
