// Leg setup control with a raw test peer speaking FakeXorLeg's protocol by hand: garbage, silent
// peers and the setup timeout, the setup limit, truncation, protocol answers, aborts and stop.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "fake_handler.h"
#include "leg_fixture.h"
#include "test_result.h"

namespace ferry::proxy::testing {
namespace {

// One engine whose listener is the acceptor side of a FakeXorLeg.
struct AcceptorUnderTest {
  explicit AcceptorUnderTest(ProxyOptions options = LegTestOptions())
      : handler(LegHandler::Role::kAcceptor, FakeLegOptions{}), engine(&handler, options) {}
  LegHandler handler;
  EngineUnderTest engine;
};

// A raw peer that completed setup with the acceptor for `target`.
UniqueFd OpenTunnel(const Ipv4Endpoint& acceptor, const Ipv4Endpoint& target) {
  UniqueFd peer = Connect(acceptor);
  SetReceiveTimeout(peer.get(), std::chrono::seconds(30));
  std::string hello = "HELLO " + target.ToString() + "\n";
  EXPECT_TRUE(WriteAll(peer.get(), hello.data(), hello.size()));
  std::string ok(3, '\0');
  EXPECT_TRUE(ReadExactly(peer.get(), ok.data(), ok.size()));
  EXPECT_EQ(ok, "OK\n");
  return peer;
}

TEST(ProxyLegControl, AcceptorFailsSetupOnGarbage) {
  LoopbackServer echo(LoopbackServer::Echo);
  AcceptorUnderTest b;
  UniqueFd peer = Connect(b.engine.address);
  ASSERT_TRUE(WriteAll(peer.get(), "GARBAGE\n", 8));
  SetReceiveTimeout(peer.get(), std::chrono::seconds(30));
  StreamEnd end = ReadToEnd(peer.get());  // the error line, then the reset (if the line arrived)
  EXPECT_TRUE(end.error == ECONNRESET || end.error == 0) << end.error;
  ASSERT_TRUE(WaitFor([&] { return b.handler.closed().size() == 1; }));
  EXPECT_EQ(b.handler.closed()[0].reason, CloseReason::kSetupFailed);
  EXPECT_EQ(b.handler.closed()[0].tls_mode, "setup");
  EXPECT_EQ(b.handler.observer->Failures(), std::vector<std::string>{"bad request"});
  EXPECT_EQ(b.engine.stats().setups_failed, 1u);
  EXPECT_TRUE(b.handler.requests().empty());
  EXPECT_EQ(echo.accepted(), 0u);
}

TEST(ProxyLegControl, SetupTimeoutResetsASilentPeer) {
  ProxyOptions options = LegTestOptions();
  options.setup_timeout = std::chrono::milliseconds(300);
  AcceptorUnderTest b(options);
  UniqueFd silent = Connect(b.engine.address);
  ASSERT_TRUE(silent.valid());
  ExpectReset(silent.get());
  ASSERT_TRUE(WaitFor([&] { return b.handler.closed().size() == 1; }));
  EXPECT_EQ(b.handler.closed()[0].reason, CloseReason::kSetupFailed);
  EXPECT_EQ(b.engine.stats().setups_failed, 1u);
  EXPECT_EQ(b.engine.stats().setups_active, 0u);
}

TEST(ProxyLegControl, InitiatorSetupTimeoutResetsItsClient) {
  // The upstream accepts but never answers the initiator's request.
  LoopbackServer silent([](UniqueFd& fd) { ReadToEnd(fd.get()); });
  LegHandler initiator(LegHandler::Role::kInitiator, FakeLegOptions{}, silent.address(),
                       Ipv4Endpoint{0x7f000001, 9});
  ProxyOptions options = LegTestOptions();
  options.setup_timeout = std::chrono::milliseconds(300);
  EngineUnderTest a(&initiator, options);
  UniqueFd client = Connect(a.address);
  ASSERT_TRUE(client.valid());
  ExpectReset(client.get());
  ASSERT_TRUE(WaitFor([&] { return initiator.closed().size() == 1; }));
  EXPECT_EQ(initiator.closed()[0].reason, CloseReason::kSetupFailed);
  EXPECT_EQ(a.stats().setups_failed, 1u);
}

TEST(ProxyLegControl, SetupsBeyondTheLimitAreRefusedAndCounted) {
  ProxyOptions options = LegTestOptions();
  options.max_concurrent_setups = 2;
  AcceptorUnderTest b(options);
  std::vector<UniqueFd> silent;
  silent.push_back(Connect(b.engine.address));
  silent.push_back(Connect(b.engine.address));
  ASSERT_TRUE(WaitFor([&] { return b.engine.stats().setups_active == 2; }));
  UniqueFd extra = Connect(b.engine.address);
  ASSERT_TRUE(extra.valid());
  ExpectReset(extra.get());
  EXPECT_EQ(b.engine.stats().setups_refused_over_limit, 1u);
  // A setup that ends frees its slot.
  silent.pop_back();
  ASSERT_TRUE(WaitFor([&] { return b.engine.stats().setups_active == 1; }));
  LoopbackServer echo(LoopbackServer::Echo);
  UniqueFd peer = OpenTunnel(b.engine.address, echo.address());
  EXPECT_EQ(b.engine.stats().setups_refused_over_limit, 1u);
}

TEST(ProxyLegControl, InitiatorBeyondTheSetupLimitResetsItsClient) {
  LoopbackServer silent([](UniqueFd& fd) { ReadToEnd(fd.get()); });
  LegHandler initiator(LegHandler::Role::kInitiator, FakeLegOptions{}, silent.address(),
                       Ipv4Endpoint{0x7f000001, 9});
  ProxyOptions options = LegTestOptions();
  options.max_concurrent_setups = 1;
  EngineUnderTest a(&initiator, options);
  UniqueFd first = Connect(a.address);
  ASSERT_TRUE(WaitFor([&] { return a.stats().setups_active == 1; }));
  UniqueFd second = Connect(a.address);
  ExpectReset(second.get());
  EXPECT_EQ(a.stats().setups_refused_over_limit, 1u);
  EXPECT_EQ(silent.accepted(), 1u);
}

// The server reads to the end and reports how the stream ended.
struct RecordingServer {
  RecordingServer()
      : server([this](UniqueFd& fd) {
          SetReceiveTimeout(fd.get(), std::chrono::seconds(30));
          StreamEnd end = ReadToEnd(fd.get());
          std::string reply = "got " + std::to_string(end.data.size());
          WriteAll(fd.get(), reply.data(), reply.size());
          error = end.error;
          ended = true;
          fd.Reset();
        }) {}
  std::atomic<int> error{0};
  std::atomic<bool> ended{false};
  LoopbackServer server;
};

TEST(ProxyLegControl, CloseNotifyEndsTheStreamCleanly) {
  RecordingServer server;
  AcceptorUnderTest b;
  UniqueFd peer = OpenTunnel(b.engine.address, server.server.address());
  std::string records = EncodeRecord('D', "hello") + EncodeRecord('C', "");
  ASSERT_TRUE(WriteAll(peer.get(), records.data(), records.size()));
  char type = 0;
  std::string payload;
  ASSERT_TRUE(ReadRecord(peer.get(), &type, &payload));
  EXPECT_EQ(type, 'D');
  EXPECT_EQ(payload, "got 5");
  ASSERT_TRUE(ReadRecord(peer.get(), &type, &payload));
  EXPECT_EQ(type, 'C') << "the engine sends close_notify before its FIN";
  EXPECT_FALSE(ReadRecord(peer.get(), &type, &payload));  // then EOF
  ASSERT_TRUE(WaitFor([&] { return server.ended.load(); }));
  EXPECT_EQ(server.error.load(), 0);
  ASSERT_TRUE(WaitFor([&] { return b.engine.stats().completed == 1; }));
}

TEST(ProxyLegControl, UserSpaceTruncationResetsTheOtherSide) {
  RecordingServer server;
  AcceptorUnderTest b;
  UniqueFd peer = OpenTunnel(b.engine.address, server.server.address());
  std::string record = EncodeRecord('D', "hello");
  ASSERT_TRUE(WriteAll(peer.get(), record.data(), record.size()));
  ASSERT_TRUE(WaitFor([&] { return b.engine.stats().bytes_client_to_upstream >= 5; }));
  ::shutdown(peer.get(), SHUT_WR);  // a FIN without close_notify
  ASSERT_TRUE(WaitFor([&] { return server.ended.load(); }));
  EXPECT_EQ(server.error.load(), ECONNRESET) << "a truncated stream must not look complete";
  ASSERT_TRUE(WaitFor([&] { return b.handler.closed().size() == 1; }));
  EXPECT_EQ(b.handler.closed()[0].reason, CloseReason::kClientReset);
}

TEST(ProxyLegControl, ProtocolAnswersGoBackToThePeer) {
  LoopbackServer echo(LoopbackServer::Echo);
  AcceptorUnderTest b;
  UniqueFd peer = OpenTunnel(b.engine.address, echo.address());
  std::string records = EncodeRecord('K', "") + EncodeRecord('D', "ping");
  ASSERT_TRUE(WriteAll(peer.get(), records.data(), records.size()));
  std::string seen;
  for (int i = 0; i < 2; ++i) {
    char type = 0;
    std::string payload;
    ASSERT_TRUE(ReadRecord(peer.get(), &type, &payload));
    seen += std::string(1, type) + payload;
  }
  EXPECT_EQ(seen, "kDping");
  EXPECT_EQ(b.handler.observer->key_updates_answered.load(), 1);
}

TEST(ProxyLegControl, AbortWorksDuringSetup) {
  AcceptorUnderTest b;
  UniqueFd silent = Connect(b.engine.address);
  ASSERT_TRUE(WaitFor([&] { return b.engine.stats().setups_active == 1; }));
  size_t aborted = b.engine.proxy->AbortConnectionsWhere(
      [](const ConnectionInfo& info) { return info.kind == "acceptor"; });
  EXPECT_EQ(aborted, 1u);
  ExpectReset(silent.get());
  EXPECT_EQ(b.engine.stats().aborted, 1u);
  EXPECT_EQ(b.engine.stats().setups_active, 0u);
  EXPECT_TRUE(WaitFor([&] { return b.engine.stats().active == 0; }));
}

TEST(ProxyLegControl, StopResetsConnectionsInEveryPhase) {
  // A target whose backlog is full: the acceptor's upstream connect stays pending.
  UniqueFd full = BoundSocket(0);
  UniqueFd filler = Connect(LocalAddress(full.get()));
  LoopbackServer echo(LoopbackServer::Echo);
  AcceptorUnderTest b;
  UniqueFd in_setup = Connect(b.engine.address);
  UniqueFd relaying = OpenTunnel(b.engine.address, echo.address());
  UniqueFd connecting = Connect(b.engine.address);
  std::string hello = "HELLO " + LocalAddress(full.get()).ToString() + "\n";
  ASSERT_TRUE(WriteAll(connecting.get(), hello.data(), hello.size()));
  ASSERT_TRUE(WaitFor([&] {
    auto live = b.engine.proxy->ListConnections();
    return live.size() == 3 && std::count_if(live.begin(), live.end(), [](const LiveConnection& c) {
                                 return c.connecting;
                               }) == 1;
  }));
  b.engine.proxy->Stop();
  ExpectReset(in_setup.get());
  ExpectReset(relaying.get());
  ExpectReset(connecting.get());
  EXPECT_EQ(b.engine.stats().active, 0u);
  EXPECT_EQ(b.engine.stats().setups_active, 0u);
  EXPECT_EQ(b.handler.closed().size(), 3u);
}

TEST(ProxyLegControl, PlainConnectionsReportNoTls) {
  LoopbackServer echo(LoopbackServer::Echo);
  FakeHandler handler(echo.address());
  EngineUnderTest plain(&handler, LegTestOptions());
  UniqueFd client = Connect(plain.address);
  ASSERT_TRUE(EchoRoundTrip(client.get(), "x"));
  auto live = plain.proxy->ListConnections();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].tls_mode, "none");
  client.Reset();
  ASSERT_TRUE(WaitFor([&] { return handler.closed().size() == 1; }));
  EXPECT_EQ(handler.closed()[0].tls_mode, "none");
}

TEST(ProxyLegControl, RejectsBadSetupOptions) {
  LegHandler handler(LegHandler::Role::kAcceptor, FakeLegOptions{});
  ProxyOptions options = LegTestOptions();
  options.setup_timeout = std::chrono::milliseconds(0);
  EXPECT_ERR(Proxy::Create(options, &handler));
  options = LegTestOptions();
  options.max_concurrent_setups = 0;
  EXPECT_ERR(Proxy::Create(options, &handler));
}

}  // namespace
}  // namespace ferry::proxy::testing
