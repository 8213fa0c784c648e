// Byte movement through the relay: integrity, concurrency, half-close, resets, backpressure.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "relay_fixture.h"
#include "test_result.h"

namespace ferry::proxy::testing {
namespace {

std::string RandomBytes(size_t size, uint32_t seed) {
  std::mt19937 gen(seed);
  std::string data(size, '\0');
  for (auto& c : data) c = static_cast<char>(gen());
  return data;
}

TEST(ProxyRelay, EchoesEightMebibytesIntactBothWays) {
  LoopbackServer echo(LoopbackServer::Echo);
  RelayUnderTest relay(echo.address());
  const std::string payload = RandomBytes(8 << 20, 1);
  StreamEnd reply = EchoAll(relay.address, payload);
  EXPECT_EQ(reply.error, 0);
  EXPECT_EQ(reply.data.size(), payload.size());
  EXPECT_TRUE(reply.data == payload) << "echoed bytes differ from the bytes sent";
  ASSERT_TRUE(WaitFor([&] {
    return relay.proxy->Stats().active == 0 && relay.handler.closed().size() == 1;
  }));
  ProxyStats stats = relay.proxy->Stats();
  EXPECT_EQ(stats.bytes_client_to_upstream, payload.size());
  EXPECT_EQ(stats.bytes_upstream_to_client, payload.size());
  EXPECT_EQ(stats.completed, 1u);
  EXPECT_EQ(stats.buffers_in_use, 0u);
  EXPECT_EQ(stats.buffered_bytes, 0u);
  auto closed = relay.handler.closed();
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].reason, CloseReason::kCompleted);
  EXPECT_EQ(closed[0].bytes_upstream_to_client, payload.size());
}

TEST(ProxyRelay, ServesTwoHundredFiftySixConcurrentConnections) {
  LoopbackServer echo(LoopbackServer::Echo);
  RelayUnderTest relay(echo.address());
  constexpr int kConnections = 256;
  std::vector<UniqueFd> clients;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(Connect(relay.address));
    ASSERT_TRUE(clients.back().valid());
    SetReceiveTimeout(clients.back().get(), std::chrono::seconds(30));
  }
  // Every connection is open at once; each carries its own bytes.
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < kConnections; ++i) {
      std::string message = RandomBytes(4096, static_cast<uint32_t>(i * 7 + round));
      ASSERT_TRUE(EchoRoundTrip(clients[i].get(), message)) << "connection " << i;
    }
  }
  EXPECT_EQ(relay.proxy->Stats().active, static_cast<uint64_t>(kConnections));
  EXPECT_EQ(relay.proxy->ListConnections().size(), static_cast<size_t>(kConnections));
  EXPECT_EQ(echo.accepted(), static_cast<size_t>(kConnections));
  clients.clear();
  EXPECT_TRUE(WaitFor([&] { return relay.proxy->Stats().active == 0; }));
}

// The server reads to EOF, then answers with how many bytes it got, then closes.
void CountThenReply(UniqueFd& fd) {
  StreamEnd got = ReadToEnd(fd.get());
  std::string reply = "got " + std::to_string(got.data.size());
  WriteAll(fd.get(), reply.data(), reply.size());
  fd.Reset();
}

TEST(ProxyRelay, HalfCloseReachesServerWhichCanStillReply) {
  LoopbackServer server(CountThenReply);
  RelayUnderTest relay(server.address());
  UniqueFd client = Connect(relay.address);
  ASSERT_TRUE(client.valid());
  SetReceiveTimeout(client.get(), std::chrono::seconds(30));
  std::string request = RandomBytes(100000, 3);
  ASSERT_TRUE(WriteAll(client.get(), request.data(), request.size()));
  ASSERT_EQ(::shutdown(client.get(), SHUT_WR), 0);
  StreamEnd reply = ReadToEnd(client.get());
  EXPECT_EQ(reply.error, 0);
  EXPECT_EQ(reply.data, "got 100000");
  EXPECT_TRUE(WaitFor([&] { return relay.proxy->Stats().completed == 1; }));
}

TEST(ProxyRelay, UpstreamResetResetsClient) {
  LoopbackServer server([](UniqueFd& fd) {
    char byte;
    ReadExactly(fd.get(), &byte, 1);
    linger lg{1, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    fd.Reset();  // RST
  });
  RelayUnderTest relay(server.address());
  UniqueFd client = Connect(relay.address);
  ASSERT_TRUE(client.valid());
  SetReceiveTimeout(client.get(), std::chrono::seconds(30));
  ASSERT_TRUE(WriteAll(client.get(), "x", 1));
  StreamEnd end = ReadToEnd(client.get());
  EXPECT_EQ(end.error, ECONNRESET);
  EXPECT_TRUE(WaitFor([&] { return relay.proxy->Stats().resets == 1; }));
}

TEST(ProxyRelay, ClientResetResetsUpstream) {
  std::atomic<int> server_saw{-1};
  LoopbackServer server([&](UniqueFd& fd) {
    SetReceiveTimeout(fd.get(), std::chrono::seconds(30));
    StreamEnd end = ReadToEnd(fd.get());
    server_saw = end.error;
  });
  RelayUnderTest relay(server.address());
  UniqueFd client = Connect(relay.address);
  ASSERT_TRUE(client.valid());
  SetReceiveTimeout(client.get(), std::chrono::seconds(30));
  ASSERT_TRUE(WriteAll(client.get(), "hello", 5));
  ASSERT_TRUE(WaitFor([&] { return relay.proxy->Stats().bytes_client_to_upstream == 5; }));
  linger lg{1, 0};
  ::setsockopt(client.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  client.Reset();
  ASSERT_TRUE(WaitFor([&] { return server_saw.load() != -1; }));
  EXPECT_EQ(server_saw.load(), ECONNRESET);
  EXPECT_TRUE(WaitFor([&] { return relay.proxy->Stats().resets == 1; }));
}

TEST(ProxyRelay, BackpressureBoundsBufferingWhenServerDoesNotRead) {
  std::atomic<bool> release{false};
  LoopbackServer server([&](UniqueFd& /*fd*/) { WaitFor([&] { return release.load(); }, std::chrono::seconds(60)); });
  RelayUnderTest relay(server.address());
  UniqueFd client = Connect(relay.address);
  ASSERT_TRUE(client.valid());
  ASSERT_EQ(::fcntl(client.get(), F_SETFL, O_NONBLOCK), 0);
  constexpr size_t kTotal = 64 << 20;
  std::string chunk(1 << 16, 'b');
  size_t sent = 0;
  auto last_progress = std::chrono::steady_clock::now();
  // Send until the client's socket stays full: the relay must stop reading, not buffer.
  while (sent < kTotal && std::chrono::steady_clock::now() - last_progress < std::chrono::seconds(1)) {
    ssize_t n = ::send(client.get(), chunk.data(), std::min(chunk.size(), kTotal - sent), MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      last_progress = std::chrono::steady_clock::now();
    } else {
      ASSERT_EQ(errno, EAGAIN);
      pollfd p{client.get(), POLLOUT, 0};
      ::poll(&p, 1, 50);
    }
  }
  EXPECT_LT(sent, kTotal) << "the client never blocked: nothing pushed back";
  ProxyStats stats = relay.proxy->Stats();
  const uint64_t bound = 2 * kMaxBuffersPerDirection * SmallTestOptions().buffer_size;
  EXPECT_LE(stats.buffered_bytes, bound);
  EXPECT_LE(stats.buffers_in_use, 2 * kMaxBuffersPerDirection);
  release = true;
}

TEST(ProxyRelay, ExhaustedBufferPoolDelaysButNeverLosesBytes) {
  LoopbackServer echo(LoopbackServer::Echo);
  ProxyOptions options = SmallTestOptions();
  options.workers = 1;
  options.buffers_per_worker = 2;  // far fewer buffers than busy directions
  RelayUnderTest relay(echo.address(), options);
  constexpr int kConnections = 16;
  std::vector<std::thread> clients;
  std::atomic<int> intact{0};
  for (int i = 0; i < kConnections; ++i) {
    clients.emplace_back([&, i] {
      UniqueFd client = Connect(relay.address);
      SetReceiveTimeout(client.get(), std::chrono::seconds(60));
      const std::string payload = RandomBytes(1 << 20, static_cast<uint32_t>(100 + i));
      std::thread writer([&] {
        WriteAll(client.get(), payload.data(), payload.size());
        ::shutdown(client.get(), SHUT_WR);
      });
      StreamEnd reply = ReadToEnd(client.get());
      writer.join();
      if (reply.error == 0 && reply.data == payload) intact.fetch_add(1);
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(intact.load(), kConnections);
  EXPECT_GT(relay.proxy->Stats().enobufs, 0u) << "the pool was never exhausted; test proves nothing";
}

// Kernel io-wq threads run under our PID as "iou-wrk-<tid>".
size_t CountIoWorkerThreads() {
  size_t count = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name.rfind("iou-wrk", 0) == 0) ++count;
  }
  return count;
}

TEST(ProxyRelay, KernelThreadsDoNotGrowWithConnections) {
  LoopbackServer echo(LoopbackServer::Echo);
  ProxyOptions options = SmallTestOptions();
  RelayUnderTest relay(echo.address(), options);
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 300; ++i) {
    clients.push_back(Connect(relay.address));
    ASSERT_TRUE(EchoRoundTrip(clients.back().get(), "ping"));
  }
  // Every connection now has a receive armed on each leg, waiting.
  size_t cap = options.workers * 2 * options.max_iowq_workers;
  EXPECT_LE(CountIoWorkerThreads(), cap);
}

TEST(ProxyRelay, DestroyingProxyWithBusyConnectionsIsClean) {
  LoopbackServer echo(LoopbackServer::Echo);
  std::vector<UniqueFd> clients;
  {
    RelayUnderTest relay(echo.address());
    for (int i = 0; i < 32; ++i) {
      clients.push_back(Connect(relay.address));
      ASSERT_TRUE(EchoRoundTrip(clients.back().get(), "hello"));
      // Leave bytes in flight on half of them.
      if (i % 2 == 0) WriteAll(clients.back().get(), std::string(100000, 'z').data(), 100000);
    }
  }  // ~Proxy stops the workers with connections open
  for (auto& client : clients) {
    SetReceiveTimeout(client.get(), std::chrono::seconds(30));
    StreamEnd end = ReadToEnd(client.get());
    EXPECT_EQ(end.error, ECONNRESET);
  }
}

}  // namespace
}  // namespace ferry::proxy::testing
