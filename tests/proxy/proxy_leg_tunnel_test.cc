// A SecureLeg at both ends of a tunnel through two real engines: client -> engine A (initiator
// leg on its upstream socket) -> engine B (acceptor leg on its client socket) -> server.
#include <sys/socket.h>

#include <cerrno>
#include <thread>

#include "leg_fixture.h"
#include "test_result.h"

namespace ferry::proxy::testing {
namespace {

FakeLegOptions Mode(bool kernel, bool resumed = false) {
  FakeLegOptions options;
  options.kernel_mode = kernel;
  options.resumed = resumed;
  return options;
}

void ExpectFourMebibytesIntact(bool kernel, bool resumed = false) {
  LoopbackServer echo(LoopbackServer::Echo);
  TunnelUnderTest tunnel(echo.address(), Mode(kernel, resumed));
  const std::string payload = PseudoRandomBytes(4 << 20, kernel ? 7 : 8);
  StreamEnd reply = EchoAll(tunnel.a.address, payload);
  EXPECT_EQ(reply.error, 0);
  EXPECT_EQ(reply.data.size(), payload.size());
  EXPECT_TRUE(reply.data == payload) << "bytes differ after the tunnel";
  ASSERT_TRUE(WaitFor([&] { return tunnel.AllClosed(1); }));
  const std::string mode = kernel ? "ktls" : "userspace";
  for (EngineUnderTest* engine : {&tunnel.a, &tunnel.b}) {
    ProxyStats stats = engine->stats();
    EXPECT_EQ(stats.completed, 1u);
    EXPECT_EQ(kernel ? stats.legs_ktls : stats.legs_userspace, 1u);
    EXPECT_EQ(kernel ? stats.legs_userspace : stats.legs_ktls, 0u);
    EXPECT_EQ(stats.legs_resumed, resumed ? 1u : 0u);
    EXPECT_EQ(stats.setups_failed, 0u);
    EXPECT_EQ(stats.setups_active, 0u);
    EXPECT_EQ(stats.buffered_bytes, 0u);
    EXPECT_EQ(stats.buffers_in_use, 0u);
    // Wire bytes: at least the payload each way (user space adds framing and close_notify).
    EXPECT_GE(stats.bytes_client_to_upstream, payload.size());
    EXPECT_GE(stats.bytes_upstream_to_client, payload.size());
  }
  for (LegHandler* handler : {&tunnel.initiator, &tunnel.acceptor}) {
    auto closed = handler->closed();
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0].reason, CloseReason::kCompleted);
    EXPECT_EQ(closed[0].tls_mode, mode);
    EXPECT_EQ(handler->observer->finishes.load(), 1) << "close_notify before the half-close";
  }
  auto requests = tunnel.acceptor.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].target, echo.address());
  EXPECT_EQ(requests[0].peer_identity, "spiffe://test/fake-initiator");
}

TEST(ProxyLegTunnel, UserSpaceLegsCarryFourMebibytesIntactBothWays) { ExpectFourMebibytesIntact(false); }

TEST(ProxyLegTunnel, KernelModeLegsCarryFourMebibytesIntactBothWays) { ExpectFourMebibytesIntact(true); }

TEST(ProxyLegTunnel, ResumedLegsAreCountedAsResumed) {
  ExpectFourMebibytesIntact(false, /*resumed=*/true);
}

// The server reads to EOF, then answers with how many bytes it got, then closes.
void CountThenReply(UniqueFd& fd) {
  StreamEnd got = ReadToEnd(fd.get());
  std::string reply = "got " + std::to_string(got.data.size());
  WriteAll(fd.get(), reply.data(), reply.size());
  fd.Reset();
}

void ExpectHalfClosePropagates(bool kernel) {
  LoopbackServer server(CountThenReply);
  TunnelUnderTest tunnel(server.address(), Mode(kernel));
  StreamEnd reply = EchoAll(tunnel.a.address, PseudoRandomBytes(100000, 3));
  EXPECT_EQ(reply.error, 0);
  EXPECT_EQ(reply.data, "got 100000");
  ASSERT_TRUE(WaitFor([&] { return tunnel.AllClosed(1); }));
  EXPECT_EQ(tunnel.a.stats().completed, 1u);
  EXPECT_EQ(tunnel.b.stats().completed, 1u);
}

TEST(ProxyLegTunnel, HalfClosePropagatesInUserSpaceMode) { ExpectHalfClosePropagates(false); }

TEST(ProxyLegTunnel, HalfClosePropagatesInKernelMode) { ExpectHalfClosePropagates(true); }

void ExpectEarlyPlaintextFirst(bool kernel) {
  LoopbackServer echo(LoopbackServer::Echo);
  FakeLegOptions legs = Mode(kernel);
  legs.early_data = "EARLY";
  TunnelUnderTest tunnel(echo.address(), legs);
  UniqueFd client = Connect(tunnel.a.address);
  ASSERT_TRUE(client.valid());
  SetReceiveTimeout(client.get(), std::chrono::seconds(30));
  // The initiator sent "EARLY" with its request; B relays it to the server before anything else.
  std::string first(5, '\0');
  ASSERT_TRUE(ReadExactly(client.get(), first.data(), first.size()));
  EXPECT_EQ(first, "EARLY");
  EXPECT_TRUE(EchoRoundTrip(client.get(), "after"));
}

TEST(ProxyLegTunnel, EarlyPlaintextIsDeliveredFirstInUserSpaceMode) { ExpectEarlyPlaintextFirst(false); }

TEST(ProxyLegTunnel, EarlyPlaintextIsDeliveredFirstInKernelMode) { ExpectEarlyPlaintextFirst(true); }

TEST(ProxyLegTunnel, ListConnectionsReportsTlsMode) {
  LoopbackServer echo(LoopbackServer::Echo);
  TunnelUnderTest tunnel(echo.address(), Mode(false));
  UniqueFd client = Connect(tunnel.a.address);
  ASSERT_TRUE(EchoRoundTrip(client.get(), "hello"));
  for (EngineUnderTest* engine : {&tunnel.a, &tunnel.b}) {
    auto live = engine->proxy->ListConnections();
    ASSERT_EQ(live.size(), 1u);
    EXPECT_EQ(live[0].tls_mode, "userspace");
    EXPECT_EQ(live[0].target, engine == &tunnel.a ? tunnel.b.address : echo.address());
  }
  EXPECT_EQ(tunnel.b.proxy->ListConnections()[0].info->kind, "tunneled");
  // A peer that has not finished its request is still in setup.
  UniqueFd silent = Connect(tunnel.b.address);
  ASSERT_TRUE(WaitFor([&] { return tunnel.b.proxy->ListConnections().size() == 2; }));
  size_t in_setup = 0;
  for (const auto& live : tunnel.b.proxy->ListConnections()) in_setup += live.tls_mode == "setup";
  EXPECT_EQ(in_setup, 1u);
  EXPECT_EQ(tunnel.b.stats().setups_active, 1u);
}

TEST(ProxyLegTunnel, DeniedRequestIsRefusedAndTheInitiatorResetsItsClient) {
  LoopbackServer echo(LoopbackServer::Echo);
  TunnelUnderTest tunnel(echo.address(), Mode(false));
  tunnel.acceptor.set_deny(true);
  UniqueFd client = Connect(tunnel.a.address);
  ASSERT_TRUE(client.valid());
  ExpectReset(client.get());
  ASSERT_TRUE(WaitFor([&] { return tunnel.AllClosed(1); }));
  auto failures = tunnel.initiator.observer->Failures();
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0], "NO 403 denied by test") << "the initiator must see B's refusal";
  EXPECT_EQ(tunnel.a.stats().setups_failed, 1u);
  EXPECT_EQ(tunnel.b.stats().setups_failed, 1u);
  EXPECT_EQ(tunnel.b.stats().denied, 1u);
  EXPECT_EQ(tunnel.initiator.closed()[0].reason, CloseReason::kSetupFailed);
  EXPECT_EQ(tunnel.acceptor.closed()[0].reason, CloseReason::kSetupFailed);
  EXPECT_EQ(echo.accepted(), 0u);
}

TEST(ProxyLegTunnel, UnreachableTargetIsRefusedAsUnavailable) {
  UniqueFd reserved = BoundSocket(-1);  // bound, not listening: connects are refused
  TunnelUnderTest tunnel(LocalAddress(reserved.get()), Mode(false));
  UniqueFd client = Connect(tunnel.a.address);
  ASSERT_TRUE(client.valid());
  ExpectReset(client.get());
  ASSERT_TRUE(WaitFor([&] { return tunnel.AllClosed(1); }));
  auto failures = tunnel.initiator.observer->Failures();
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].rfind("NO 503 upstream connect failed", 0), 0u) << failures[0];
  EXPECT_EQ(tunnel.b.stats().connect_failures, 1u);
  EXPECT_EQ(tunnel.b.stats().setups_active, 0u);
}

}  // namespace
}  // namespace ferry::proxy::testing
