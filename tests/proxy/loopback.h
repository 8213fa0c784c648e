// Loopback helpers for the proxy tests: listeners, clients and small servers built on blocking
// sockets and threads (test code only; the engine under test uses io_uring).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/ipv4.h"
#include "common/unique_fd.h"
#include "support/loopback_sockets.h"

namespace ferry::proxy::testing {

// The shared loopback sockets (support/loopback_sockets.h) under the names these tests use.
inline constexpr auto& BoundSocket = ferry::testing::BoundLoopbackSocket;
using ferry::testing::LocalAddress;
inline constexpr auto& Connect = ferry::testing::ConnectTo;
UniqueFd NewUpstreamSocket();
using ferry::testing::WriteAll;
// Reads exactly `size` bytes; false on EOF or error first.
bool ReadExactly(int fd, void* data, size_t size);

// What a read to the end of a stream saw.
struct StreamEnd {
  std::string data;
  int error = 0;  // 0 when the stream ended with EOF, else errno (e.g. ECONNRESET)
};
StreamEnd ReadToEnd(int fd);
// Sets a receive timeout so a test fails instead of hanging.
void SetReceiveTimeout(int fd, std::chrono::milliseconds timeout);
// Round trip of `message` through an echo path.
bool EchoRoundTrip(int fd, const std::string& message);
// Connects to an echo path at `address`, sends `payload` (from a second thread), half-closes,
// and returns everything that came back until EOF.
StreamEnd EchoAll(const Ipv4Endpoint& address, const std::string& payload);

// Polls `predicate` until true or `timeout` passes; the timeout is generous, never a measurement.
bool WaitFor(const std::function<bool()>& predicate,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A server on 127.0.0.1 that runs `serve(fd)` on its own thread for every accepted connection.
// `serve` may close the fd (e.g. to reset it); otherwise it stays open until the server dies.
class LoopbackServer {
 public:
  using Serve = std::function<void(UniqueFd& fd)>;
  explicit LoopbackServer(Serve serve);
  ~LoopbackServer();
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  Ipv4Endpoint address() const { return address_; }
  size_t accepted() const { return accepted_.load(); }

  // Echoes until EOF, then closes.
  static void Echo(UniqueFd& fd);

 private:
  void AcceptLoop();

  Serve serve_;
  UniqueFd listener_;
  UniqueFd stop_event_;
  Ipv4Endpoint address_;
  std::atomic<size_t> accepted_{0};
  std::mutex mutex_;
  std::vector<std::thread> handlers_;
  std::thread acceptor_;
};

}  // namespace ferry::proxy::testing
