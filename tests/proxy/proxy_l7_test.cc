// The engine's L7Connection: per-request upstream choice, the per-connection pool, retiring,
// stream mode, finish/reset, and upstreams that cannot be opened. The session is FakeLineSession,
// a line protocol standing in for HTTP: "KEY BODY" sends "BODY" to upstream KEY and passes its
// one-line answer back.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "agent/proxy/proxy.h"
#include "loopback.h"
#include "relay_fixture.h"

namespace ferry::proxy::testing {
namespace {

// Line protocol: "KEY BODY\n" → BODY to KEY, await one line back. "RETIRE KEY BODY\n": the same,
// then the upstream is retired. "STREAM KEY\n": become a stream to KEY. "QUIT\n": "bye", finish.
// "RESET\n": reset. An upstream end is reported to the client as "ended <end> <reason>".
class FakeLineSession : public L7Session {
 public:
  void OnClientBytes(std::string_view bytes, L7Actions& out) override {
    buffer_ += bytes;
    Drain(out);
  }
  void OnClientEof(L7Actions& out) override {
    out.end = L7Actions::End::kFinish;
    out.reason = "client done";
  }
  void OnUpstreamBytes(std::string_view bytes, L7Actions& out) override {
    answer_ += bytes;
    size_t nl = answer_.find('\n');
    if (nl == std::string::npos) return;
    out.to_client += answer_.substr(0, nl + 1);
    answer_.erase(0, nl + 1);
    awaiting_ = false;
    if (retire_after_) out.retire_upstream = true;
    retire_after_ = false;
    Drain(out);
  }
  void OnUpstreamEnd(UpstreamEnd end, std::string_view reason, L7Actions& out) override {
    const char* names[] = {"closed", "reset", "unavailable"};
    out.to_client += "ended " + std::string(names[static_cast<int>(end)]) + " " + std::string(reason) + "\n";
    awaiting_ = false;
    Drain(out);
  }
  bool WantsClientBytes() const override { return true; }
  bool WantsUpstreamBytes() const override { return awaiting_; }

 private:
  void Drain(L7Actions& out) {
    while (!awaiting_) {
      size_t nl = buffer_.find('\n');
      if (nl == std::string::npos) return;
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      if (line == "QUIT") {
        out.to_client += "bye\n";
        out.end = L7Actions::End::kFinish;
        return;
      }
      if (line == "RESET") {
        out.end = L7Actions::End::kReset;
        return;
      }
      if (line.rfind("STREAM ", 0) == 0) {
        out.to_upstream.push_back({line.substr(7), buffer_});
        buffer_.clear();
        out.become_stream = true;
        return;
      }
      if (line.rfind("RETIRE ", 0) == 0) {
        retire_after_ = true;
        line = line.substr(7);
      }
      size_t space = line.find(' ');
      out.to_upstream.push_back({line.substr(0, space), line.substr(space + 1) + "\n"});
      awaiting_ = true;
    }
  }

  std::string buffer_;
  std::string answer_;
  bool awaiting_ = false;
  bool retire_after_ = false;
};

class FakeOpener : public UpstreamOpener {
 public:
  std::map<std::string, Ipv4Endpoint> targets;
  Decision Open(const std::string& key) override {
    auto it = targets.find(key);
    if (it == targets.end()) return DenyPlan{"no backend " + key};
    return ForwardPlan{NewUpstreamSocket(), it->second, nullptr};
  }
};

class L7Handler : public ConnectionHandler {
 public:
  explicit L7Handler(std::shared_ptr<FakeOpener> opener) : opener_(std::move(opener)) {}
  Decision OnAccept(const AcceptedConnection&) override {
    return L7Plan{std::make_unique<FakeLineSession>(), opener_, nullptr};
  }

 private:
  std::shared_ptr<FakeOpener> opener_;
};

// Answers every line with "<name>:<connection number>:<line>"; `close_after_one` closes after the
// first answer, like a server without keep-alive.
LoopbackServer::Serve LineServer(std::string name, std::atomic<int>* connections, bool close_after_one = false) {
  return [name, connections, close_after_one](UniqueFd& fd) {
    int number = ++*connections;
    std::string pending;
    char buf[4096];
    while (true) {
      ssize_t n = ::read(fd.get(), buf, sizeof(buf));
      if (n <= 0) break;
      pending.append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        std::string reply = name + ":" + std::to_string(number) + ":" + pending.substr(0, nl + 1);
        pending.erase(0, nl + 1);
        if (!WriteAll(fd.get(), reply.data(), reply.size())) return;
        if (close_after_one) {
          fd.Reset();
          return;
        }
      }
    }
    fd.Reset();
  };
}

std::string ReadLine(int fd) {
  std::string line;
  char c;
  while (true) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n != 1) {
      line += n == 0 ? "<eof>" : "<error " + std::string(std::strerror(errno)) + ">";
      break;
    }
    line += c;
    if (c == '\n') break;
  }
  return line;
}

struct L7Fixture : ::testing::Test {
  void SetUp() override {
    opener = std::make_shared<FakeOpener>();
    handler = std::make_unique<L7Handler>(opener);
    auto created = Proxy::Create(SmallTestOptions(), handler.get());
    ASSERT_TRUE(created.ok()) << created.error().Message();
    proxy = std::move(created).value();
    UniqueFd listener = BoundSocket(64);
    address = LocalAddress(listener.get());
    ASSERT_TRUE(proxy->AddListener(std::move(listener)).ok());
  }
  void TearDown() override { proxy.reset(); }

  UniqueFd Client() {
    UniqueFd fd = Connect(address);
    SetReceiveTimeout(fd.get(), std::chrono::seconds(10));
    return fd;
  }
  static void Send(int fd, const std::string& s) { ASSERT_TRUE(WriteAll(fd, s.data(), s.size())); }

  std::shared_ptr<FakeOpener> opener;
  std::unique_ptr<L7Handler> handler;
  std::unique_ptr<Proxy> proxy;
  Ipv4Endpoint address;
};

TEST_F(L7Fixture, RequestsAlternateBetweenPooledUpstreams) {
  std::atomic<int> a_conns{0}, b_conns{0};
  LoopbackServer a(LineServer("a", &a_conns)), b(LineServer("b", &b_conns));
  opener->targets = {{"A", a.address()}, {"B", b.address()}};
  UniqueFd client = Client();
  for (int i = 0; i < 5; ++i) {
    Send(client.get(), "A one" + std::to_string(i) + "\n");
    EXPECT_EQ(ReadLine(client.get()), "a:1:one" + std::to_string(i) + "\n");
    Send(client.get(), "B two" + std::to_string(i) + "\n");
    EXPECT_EQ(ReadLine(client.get()), "b:1:two" + std::to_string(i) + "\n");
  }
  // Pipelined: the session releases the second only after the first answer.
  Send(client.get(), "A x\nB y\nA z\n");
  EXPECT_EQ(ReadLine(client.get()), "a:1:x\n");
  EXPECT_EQ(ReadLine(client.get()), "b:1:y\n");
  EXPECT_EQ(ReadLine(client.get()), "a:1:z\n");
  EXPECT_EQ(a_conns.load(), 1);  // one upstream per key, reused
  EXPECT_EQ(b_conns.load(), 1);
}

TEST_F(L7Fixture, ClientsNeverShareAnUpstream) {
  std::atomic<int> conns{0};
  LoopbackServer a(LineServer("a", &conns));
  opener->targets = {{"A", a.address()}};
  UniqueFd first = Client(), second = Client();
  Send(first.get(), "A 1\n");
  EXPECT_EQ(ReadLine(first.get()), "a:1:1\n");
  Send(second.get(), "A 2\n");
  EXPECT_EQ(ReadLine(second.get()), "a:2:2\n");
  Send(first.get(), "A 3\n");
  EXPECT_EQ(ReadLine(first.get()), "a:1:3\n");
}

TEST_F(L7Fixture, RetiredAndClosedUpstreamsAreReplaced) {
  std::atomic<int> a_conns{0}, c_conns{0};
  LoopbackServer a(LineServer("a", &a_conns)), c(LineServer("c", &c_conns, /*close_after_one=*/true));
  opener->targets = {{"A", a.address()}, {"C", c.address()}};
  UniqueFd client = Client();
  Send(client.get(), "RETIRE A 1\n");
  EXPECT_EQ(ReadLine(client.get()), "a:1:1\n");
  Send(client.get(), "A 2\n");
  EXPECT_EQ(ReadLine(client.get()), "a:2:2\n");
  // C closes after each answer: the pooled socket is found closed and a new one is opened.
  Send(client.get(), "C 1\n");
  EXPECT_EQ(ReadLine(client.get()), "c:1:1\n");
  ASSERT_TRUE(WaitFor([&] { return c_conns.load() == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let C's close reach the pool
  Send(client.get(), "C 2\n");
  EXPECT_EQ(ReadLine(client.get()), "c:2:2\n");
}

TEST_F(L7Fixture, UnavailableUpstreamIsReportedAndTheConnectionGoesOn) {
  std::atomic<int> conns{0};
  LoopbackServer a(LineServer("a", &conns));
  UniqueFd refusing = BoundSocket(-1);  // bound, not listening: connect is refused
  opener->targets = {{"A", a.address()}, {"R", LocalAddress(refusing.get())}};
  UniqueFd client = Client();
  Send(client.get(), "Z 1\n");
  EXPECT_EQ(ReadLine(client.get()), "ended unavailable no backend Z\n");
  Send(client.get(), "R 1\n");
  EXPECT_EQ(ReadLine(client.get()).rfind("ended reset", 0), 0u);
  Send(client.get(), "A 2\n");
  EXPECT_EQ(ReadLine(client.get()), "a:1:2\n");
}

TEST_F(L7Fixture, StreamModePassesBytesAndHalfCloses) {
  std::atomic<int> conns{0};
  LoopbackServer a(LineServer("a", &conns));
  opener->targets = {{"A", a.address()}};
  UniqueFd client = Client();
  Send(client.get(), "STREAM A\nfirst\n");
  EXPECT_EQ(ReadLine(client.get()), "a:1:first\n");
  Send(client.get(), "second\nthird\n");
  EXPECT_EQ(ReadLine(client.get()), "a:1:second\n");
  EXPECT_EQ(ReadLine(client.get()), "a:1:third\n");
  ASSERT_EQ(::shutdown(client.get(), SHUT_WR), 0);
  StreamEnd end = ReadToEnd(client.get());  // the server sees EOF, closes; so do we
  EXPECT_EQ(end.data, "");
  EXPECT_EQ(end.error, 0);
}

TEST_F(L7Fixture, FinishSendsTheLastAnswerThenEof) {
  UniqueFd client = Client();
  Send(client.get(), "QUIT\n");
  StreamEnd end = ReadToEnd(client.get());
  EXPECT_EQ(end.data, "bye\n");
  EXPECT_EQ(end.error, 0);
}

TEST_F(L7Fixture, ResetResetsTheClient) {
  UniqueFd client = Client();
  Send(client.get(), "RESET\n");
  StreamEnd end = ReadToEnd(client.get());
  EXPECT_EQ(end.error, ECONNRESET);
}

TEST_F(L7Fixture, EveryRelayIsReleasedWhenClientsLeave) {
  std::atomic<int> a_conns{0}, b_conns{0};
  LoopbackServer a(LineServer("a", &a_conns)), b(LineServer("b", &b_conns));
  opener->targets = {{"A", a.address()}, {"B", b.address()}};
  {
    UniqueFd client = Client();
    Send(client.get(), "A 1\n");
    EXPECT_EQ(ReadLine(client.get()), "a:1:1\n");
    Send(client.get(), "B 1\n");
    EXPECT_EQ(ReadLine(client.get()), "b:1:1\n");
    EXPECT_EQ(proxy->Stats().active, 3u);  // the client's L7 connection and two upstream relays
  }
  EXPECT_TRUE(WaitFor([&] { return proxy->Stats().active == 0; })) << proxy->Stats().active;
}

}  // namespace
}  // namespace ferry::proxy::testing
