// `ferryctl local port-forward`: the argument syntax, and the forwarder's relay over loopback (the
// pod's network namespace replaced by a plain socket factory, so no privileges are needed).
#include "local/port_forward.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <thread>

#include "test_result.h"

namespace ferry::local {
namespace {

TEST(ParsePortMapping, AcceptsTheKubectlForms) {
  struct Case {
    const char* text;
    uint16_t local, remote;
  };
  for (const Case& c : {Case{"8080:80", 8080, 80}, Case{"8080", 8080, 8080}, Case{":80", 0, 80},
                        Case{"0:80", 0, 80}, Case{"65535:1", 65535, 1}}) {
    SCOPED_TRACE(c.text);
    auto m = ParsePortMapping(c.text);
    ASSERT_OK(m);
    EXPECT_EQ(m->local_port, c.local) << c.text;
    EXPECT_EQ(m->remote_port, c.remote) << c.text;
  }
}

TEST(ParsePortMapping, RejectsEverythingElseWithTheExpectedForm) {
  for (const char* text : {"", ":", "0", "80:", "80:0", "abc", "70000:80", "80:70000", "1:2:3", "-1:80", "+80",
                           " 80", "80 ", "80:80x", "0x50"}) {
    auto m = ParsePortMapping(text);
    ASSERT_FALSE(m.ok()) << '"' << text << '"';
    EXPECT_NE(m.error().Message().find("LOCAL:REMOTE"), std::string::npos) << m.error().Message();
  }
}

TEST(ParseLoopbackAddress, AcceptsOnlyLoopback) {
  EXPECT_EQ(ParseLoopbackAddress("127.0.0.1").value(), 0x7f000001u);
  EXPECT_EQ(ParseLoopbackAddress("localhost").value(), 0x7f000001u);
  EXPECT_EQ(ParseLoopbackAddress("127.1.2.3").value(), 0x7f010203u);
  for (const char* text : {"0.0.0.0", "198.18.1.2", "10.0.0.1", "128.0.0.1"}) {
    auto a = ParseLoopbackAddress(text);
    ASSERT_FALSE(a.ok()) << text;
    EXPECT_NE(a.error().Message().find("only loopback"), std::string::npos) << a.error().Message();
  }
  EXPECT_NE(ParseLoopbackAddress("::1").error().Message().find("IPv6"), std::string::npos);
  EXPECT_NE(ParseLoopbackAddress("example.com").error().Message().find("not an IPv4"), std::string::npos);
}

UniqueFd ListenLoopback(uint16_t* port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa = Ipv4Endpoint{0x7f000001, 0}.ToSockaddr();
  socklen_t len = sizeof(sa);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  EXPECT_EQ(::listen(fd.get(), 16), 0);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len);
  *port = ntohs(sa.sin_port);
  return fd;
}

// The stand-in for the pod's program: reads until the client half-closes, then answers with
// "got N bytes" and closes. Serves `connections` connections one after another.
class CountingServer {
 public:
  explicit CountingServer(int connections) : listener_(ListenLoopback(&port_)) {
    thread_ = std::thread([this, connections] {
      for (int i = 0; i < connections; ++i) {
        UniqueFd c(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!c) return;
        size_t total = 0;
        char buf[16384];
        ssize_t n;
        while ((n = ::recv(c.get(), buf, sizeof(buf), 0)) > 0) total += static_cast<size_t>(n);
        std::string reply = "got " + std::to_string(total) + " bytes";
        (void)!::send(c.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
      }
    });
  }
  ~CountingServer() { thread_.join(); }
  uint16_t port() const { return port_; }

 private:
  uint16_t port_ = 0;
  UniqueFd listener_;
  std::thread thread_;
};

ForwardTarget LoopbackTarget(uint16_t port) {
  ForwardTarget t;
  t.make_socket = []() -> Result<UniqueFd> {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return ErrnoError("socket");
    return fd;
  };
  t.endpoint = Ipv4Endpoint{0x7f000001, port};
  t.description = "test server port " + std::to_string(port);
  return t;
}

UniqueFd ConnectTo(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa = Ipv4Endpoint{0x7f000001, port}.ToSockaddr();
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0) << strerror(errno);
  return fd;
}

// Sends `bytes`, half-closes, and returns everything read until the forwarder passes the FIN on.
std::string SendAndDrain(int fd, size_t bytes) {
  std::string payload(bytes, 'x');
  std::string reply;
  std::thread reader([&] {
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) reply.append(buf, static_cast<size_t>(n));
  });
  for (size_t off = 0; off < payload.size();) {
    ssize_t n = ::send(fd, payload.data() + off, payload.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  reader.join();
  return reply;
}

class Forwarding : public ::testing::Test {
 protected:
  void Start(uint16_t target_port) {
    ForwarderOptions o;
    o.listen = Ipv4Endpoint{0x7f000001, 0};
    o.target = LoopbackTarget(target_port);
    o.on_connection = [this](const std::string& m) { Record(&connections_, m); };
    o.on_error = [this](const std::string& m) { Record(&errors_, m); };
    auto f = PortForwarder::Listen(std::move(o));
    ASSERT_OK(f);
    forwarder_ = std::move(f).value();
    runner_ = std::thread([this] { run_result_ = forwarder_->Run(); });
  }
  void StopAndJoin() {
    if (!runner_.joinable()) return;
    forwarder_->Stop();
    runner_.join();
  }
  void TearDown() override { StopAndJoin(); }
  void Record(std::vector<std::string>* to, const std::string& m) {
    std::lock_guard lock(mu_);
    to->push_back(m);
  }
  std::vector<std::string> Errors() {
    std::lock_guard lock(mu_);
    return errors_;
  }

  std::unique_ptr<PortForwarder> forwarder_;
  std::thread runner_;
  Result<void> run_result_ = Ok();
  std::mutex mu_;
  std::vector<std::string> connections_, errors_;
};

TEST_F(Forwarding, RelaysBothWaysAndPassesTheHalfCloseOn) {
  CountingServer server(2);
  Start(server.port());
  uint16_t port = forwarder_->local_endpoint().port;
  ASSERT_NE(port, 0) << "a free port was chosen";
  EXPECT_EQ(forwarder_->local_endpoint().addr, 0x7f000001u);
  // Much more than the relay's buffers: bytes must keep flowing, none lost.
  UniqueFd first = ConnectTo(port);
  EXPECT_EQ(SendAndDrain(first.get(), 3 * 1024 * 1024 + 7), "got 3145735 bytes");
  UniqueFd second = ConnectTo(port);
  EXPECT_EQ(SendAndDrain(second.get(), 5), "got 5 bytes");
  StopAndJoin();
  EXPECT_OK(run_result_);
  std::lock_guard lock(mu_);
  EXPECT_EQ(connections_.size(), 2u);
  EXPECT_EQ(connections_.at(0), "Handling connection for " + std::to_string(port));
  EXPECT_TRUE(errors_.empty());
}

TEST_F(Forwarding, NothingListeningInThePodClosesTheClientAndReportsWhy) {
  uint16_t closed_port = 0;
  { UniqueFd gone = ListenLoopback(&closed_port); }  // a port that was just free'd: refused
  Start(closed_port);
  UniqueFd client = ConnectTo(forwarder_->local_endpoint().port);
  char c;
  EXPECT_LE(::recv(client.get(), &c, 1, 0), 0) << "the client's connection is closed";
  StopAndJoin();
  auto errors = Errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("test server port " + std::to_string(closed_port)), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("Connection refused"), std::string::npos) << errors[0];
}

TEST_F(Forwarding, StopEndsOpenConnections) {
  uint16_t port = 0;
  UniqueFd silent = ListenLoopback(&port);  // a server that never answers
  Start(port);
  UniqueFd client = ConnectTo(forwarder_->local_endpoint().port);
  ASSERT_EQ(::send(client.get(), "hi", 2, MSG_NOSIGNAL), 2);
  UniqueFd upstream(::accept4(silent.get(), nullptr, nullptr, SOCK_CLOEXEC));  // the relay is up
  ASSERT_TRUE(upstream.valid());
  char got[2];
  ASSERT_EQ(::recv(upstream.get(), got, 2, MSG_WAITALL), 2) << "the relay carries bytes";
  StopAndJoin();
  EXPECT_OK(run_result_);
  pollfd p{client.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10'000), 1) << "the forwarder closed its side";
  char c;
  EXPECT_LE(::recv(client.get(), &c, 1, 0), 0);
  EXPECT_EQ(::recv(upstream.get(), &c, 1, 0), 0) << "the pod side is closed too";
}

TEST(PortForwarder, StopFdEndsRun) {
  ForwarderOptions o;
  o.listen = Ipv4Endpoint{0x7f000001, 0};
  o.target = LoopbackTarget(1);
  auto f = PortForwarder::Listen(std::move(o));
  ASSERT_OK(f);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  ASSERT_EQ(::write(write_end.get(), "x", 1), 1);
  EXPECT_OK((*f)->Run(read_end.get()));
}

TEST(PortForwarder, PortInUseIsAClearError) {
  uint16_t port = 0;
  UniqueFd taken = ListenLoopback(&port);
  ForwarderOptions o;
  o.listen = Ipv4Endpoint{0x7f000001, port};
  o.target = LoopbackTarget(1);
  auto f = PortForwarder::Listen(std::move(o));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, EADDRINUSE);
  EXPECT_NE(f.error().Message().find("unable to listen on 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << f.error().Message();
}

}  // namespace
}  // namespace ferry::local
