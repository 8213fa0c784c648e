// Connection control: deny, connect failures and timeouts, idle and half-close timeouts,
// the connection limit, aborts, listener removal and shutdown.
#include <sys/socket.h>

#include <cerrno>

#include "relay_fixture.h"
#include "test_result.h"

namespace ferry::proxy::testing {
namespace {

// The client's view of a relay that resets it: reading ends with ECONNRESET.
void ExpectClientReset(int fd) {
  SetReceiveTimeout(fd, std::chrono::seconds(30));
  StreamEnd end = ReadToEnd(fd);
  EXPECT_EQ(end.error, ECONNRESET);
  EXPECT_TRUE(end.data.empty());
}

TEST(ProxyControl, DenyResetsClientAndNeverConnectsUpstream) {
  LoopbackServer echo(LoopbackServer::Echo);
  RelayUnderTest relay(echo.address());
  relay.handler.set_deny(true);
  UniqueFd client = Connect(relay.address);
  ASSERT_TRUE(client.valid());
  // Bytes sent before the decision must never reach anyone. The reset is reported once: to this
  // send if it already arrived, else to the read below.
  if (WriteAll(client.get(), "secret", 6)) {
    ExpectClientReset(client.get());
  } else {
    EXPECT_TRUE(errno == ECONNRESET || errno == EPIPE) << errno;
  }
  EXPECT_EQ(relay.proxy->Stats().denied, 1u);
  EXPECT_EQ(echo.accepted(), 0u);
}

TEST(ProxyControl, RefusedUpstreamConnectResetsClient) {
  UniqueFd reserved = BoundSocket(-1);  // bound, not listening: connects are refused
  RelayUnderTest relay(LocalAddress(reserved.get()));
  UniqueFd client = Connect(relay.address);
  ASSERT_TRUE(client.valid());
  ExpectClientReset(client.get());
  EXPECT_TRUE(WaitFor([&] { return relay.proxy->Stats().connect_failures == 1; }));
  ASSERT_TRUE(WaitFor([&] { return relay.handler.closed().size() == 1; }));
  auto closed = relay.handler.closed();
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].reason, CloseReason::kConnectFailed);
}

TEST(ProxyControl, UpstreamConnectTimeoutResetsClient) {
  // A listener that never accepts, with its backlog already full: SYNs to it go unanswered.
  UniqueFd full = BoundSocket(0);
  Ipv4Endpoint target = LocalAddress(full.get());
  UniqueFd filler = Connect(target);
  ASSERT_TRUE(filler.valid());
  ProxyOptions options = SmallTestOptions();
  options.connect_timeout = std::chrono::milliseconds(300);
  RelayUnderTest relay(target, options);
  UniqueFd client = Connect(relay.address);
  ASSERT_TRUE(client.valid());
  ExpectClientReset(client.get());
  EXPECT_TRUE(WaitFor([&] { return relay.proxy->Stats().connect_timeouts == 1; }));
}

TEST(ProxyControl, IdleConnectionIsClosed) {
  LoopbackServer echo(LoopbackServer::Echo);
  ProxyOptions options = SmallTestOptions();
  options.idle_timeout = std::chrono::milliseconds(200);
  RelayUnderTest relay(echo.address(), options);
  UniqueFd client = Connect(relay.address);
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(EchoRoundTrip(client.get(), "ping"));
  SetReceiveTimeout(client.get(), std::chrono::seconds(30));
  StreamEnd end = ReadToEnd(client.get());  // nothing more is sent: the relay closes it
  EXPECT_EQ(end.error, 0);
  EXPECT_EQ(relay.proxy->Stats().idle_timeouts, 1u);
  EXPECT_TRUE(WaitFor([&] { return relay.proxy->Stats().active == 0; }));
}

TEST(ProxyControl, HalfOpenConnectionIsClosedAfterHalfCloseTimeout) {
  // The server never answers nor closes after the client's FIN.
  LoopbackServer silent([](UniqueFd& fd) { ReadToEnd(fd.get()); });
  ProxyOptions options = SmallTestOptions();
  options.half_close_timeout = std::chrono::milliseconds(200);
  RelayUnderTest relay(silent.address(), options);
  UniqueFd client = Connect(relay.address);
  ASSERT_TRUE(client.valid());
  ASSERT_EQ(::shutdown(client.get(), SHUT_WR), 0);
  SetReceiveTimeout(client.get(), std::chrono::seconds(30));
  StreamEnd end = ReadToEnd(client.get());
  EXPECT_EQ(end.error, 0);
  EXPECT_TRUE(WaitFor([&] { return relay.proxy->Stats().half_close_timeouts == 1; }));
}

TEST(ProxyControl, ConnectionsBeyondTheLimitAreRefused) {
  LoopbackServer echo(LoopbackServer::Echo);
  ProxyOptions options = SmallTestOptions();
  options.max_connections = 3;
  RelayUnderTest relay(echo.address(), options);
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(Connect(relay.address));
    ASSERT_TRUE(EchoRoundTrip(clients.back().get(), "hi")) << i;
  }
  UniqueFd extra = Connect(relay.address);
  ASSERT_TRUE(extra.valid());
  ExpectClientReset(extra.get());
  EXPECT_EQ(relay.proxy->Stats().refused_over_limit, 1u);
  // Room frees up when a connection closes.
  clients.pop_back();
  ASSERT_TRUE(WaitFor([&] { return relay.proxy->Stats().active == 2; }));
  UniqueFd again = Connect(relay.address);
  EXPECT_TRUE(EchoRoundTrip(again.get(), "back"));
}

TEST(ProxyControl, AbortResetsOnlyMatchingConnections) {
  LoopbackServer echo(LoopbackServer::Echo);
  RelayUnderTest relay(echo.address());
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 4; ++i) {  // accept order 0..3: source_sa even, odd, even, odd
    clients.push_back(Connect(relay.address));
    ASSERT_TRUE(EchoRoundTrip(clients.back().get(), "hi"));
  }
  size_t aborted = relay.proxy->AbortConnectionsWhere(
      [](const ConnectionInfo& info) { return info.source_sa == "odd"; });
  EXPECT_EQ(aborted, 2u);
  ExpectClientReset(clients[1].get());
  ExpectClientReset(clients[3].get());
  EXPECT_TRUE(EchoRoundTrip(clients[0].get(), "still here"));
  EXPECT_TRUE(EchoRoundTrip(clients[2].get(), "still here"));
  EXPECT_EQ(relay.proxy->Stats().aborted, 2u);
}

TEST(ProxyControl, ListConnectionsShowsInfoAndBytes) {
  LoopbackServer echo(LoopbackServer::Echo);
  RelayUnderTest relay(echo.address());
  UniqueFd client = Connect(relay.address);
  ASSERT_TRUE(EchoRoundTrip(client.get(), "12345"));
  auto live = relay.proxy->ListConnections();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].info->kind, "outbound");
  EXPECT_EQ(live[0].target, echo.address());
  EXPECT_EQ(live[0].client, LocalAddress(client.get()));
  EXPECT_EQ(live[0].bytes_client_to_upstream, 5u);
  EXPECT_EQ(live[0].bytes_upstream_to_client, 5u);
  EXPECT_FALSE(live[0].connecting);
}

TEST(ProxyControl, RemovedListenerStopsAcceptingButKeepsConnections) {
  LoopbackServer echo(LoopbackServer::Echo);
  RelayUnderTest relay(echo.address());
  UniqueFd client = Connect(relay.address);
  ASSERT_TRUE(EchoRoundTrip(client.get(), "before"));
  relay.proxy->RemoveListener(relay.listener_id);
  // Once the listening socket is closed, connects are refused.
  EXPECT_TRUE(WaitFor([&] { return !Connect(relay.address).valid(); }));
  EXPECT_TRUE(EchoRoundTrip(client.get(), "after"));
}

TEST(ProxyControl, StopResetsLiveConnections) {
  LoopbackServer echo(LoopbackServer::Echo);
  RelayUnderTest relay(echo.address());
  UniqueFd client = Connect(relay.address);
  ASSERT_TRUE(EchoRoundTrip(client.get(), "x"));
  relay.proxy->Stop();
  ExpectClientReset(client.get());
  EXPECT_EQ(relay.proxy->Stats().active, 0u);
  EXPECT_FALSE(Connect(relay.address).valid());
  relay.proxy->Stop();  // idempotent
  EXPECT_EQ(relay.proxy->AbortConnectionsWhere([](const ConnectionInfo&) { return true; }), 0u);
}

TEST(ProxyControl, RejectsBadOptions) {
  FakeHandler handler(Ipv4Endpoint{0x7f000001, 1});
  ProxyOptions options = SmallTestOptions();
  options.buffers_per_worker = 100;  // not a power of two
  EXPECT_ERR(Proxy::Create(options, &handler));
  options = SmallTestOptions();
  options.idle_timeout = std::chrono::milliseconds(0);
  EXPECT_ERR(Proxy::Create(options, &handler));
  EXPECT_ERR(Proxy::Create(SmallTestOptions(), nullptr));
}

TEST(ProxyControl, AddListenerRejectsSocketThatIsNotListening) {
  FakeHandler handler(Ipv4Endpoint{0x7f000001, 1});
  auto proxy = Proxy::Create(SmallTestOptions(), &handler);
  ASSERT_OK(proxy);
  EXPECT_ERR((*proxy)->AddListener(BoundSocket(-1)));
}

}  // namespace
}  // namespace ferry::proxy::testing
