// Loopback plumbing for the relay micro-benchmark: a sink/echo server and the two client loads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "common/ipv4.h"
#include "common/unique_fd.h"
#include "support/loopback_sockets.h"

namespace ferry::bench {

// The shared loopback sockets (tests/support), exiting with a message on failure as a benchmark may.
UniqueFd ListenLoopback();
using ferry::testing::LocalAddress;
// Connects with TCP_NODELAY (the round-trip load sends 64-byte messages).
UniqueFd ConnectTo(const Ipv4Endpoint& target);

// One server for both loads. The client's first byte picks the behaviour: 'T' reads to EOF and
// answers one byte (throughput), 'E' echoes (request/response latency).
class BenchServer {
 public:
  BenchServer();
  ~BenchServer();
  BenchServer(const BenchServer&) = delete;
  BenchServer& operator=(const BenchServer&) = delete;
  Ipv4Endpoint address() const { return address_; }

 private:
  void AcceptLoop();
  static void Serve(int fd);

  UniqueFd listener_;
  UniqueFd stop_;
  Ipv4Endpoint address_;
  std::vector<std::thread> handlers_;
  std::thread acceptor_;
};

// Sends `bytes` through `target` and waits for the sink's acknowledgement; returns seconds.
double MeasureThroughputSeconds(const Ipv4Endpoint& target, uint64_t bytes);
// `samples` round trips of 64 bytes; returns each round trip in microseconds.
std::vector<double> MeasureRoundTripsMicros(const Ipv4Endpoint& target, int samples);

}  // namespace ferry::bench
