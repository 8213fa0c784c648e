// A small stand-in for the io_uring engine, for the kTLS leg test: drives two proxy::SecureLegs
// over a real loopback TCP connection with poll() and plain socket calls, through setup, the
// kTLS hand-off and a bulk transfer each way, the way the engine is meant to.
#pragma once

#include <cstdint>
#include <string>

#include "agent/proxy/secure_leg.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "support/loopback_sockets.h"

namespace ferry::vmtest {

using SocketPair = testing::ConnectedPair;
// A connected loopback TCP pair (client end, accepted server end), non-blocking.
Result<SocketPair> ConnectNonBlockingLoopbackPair();

struct SetupResult {
  proxy::LegProgress client;
  proxy::LegProgress server;
  proxy::LegRequest request;  // what the server leg asked about (it is then accepted)
};
// Runs both setups to kReady or kFailed; everything either side had to send has been sent.
Result<SetupResult> RunSetupOverSockets(proxy::SecureLeg& client, int client_fd, proxy::SecureLeg& server,
                                        int server_fd);

// What one side of the data phase sent and received.
struct StreamReport {
  std::string sent_sha256;
  std::string received_sha256;
  uint64_t received_bytes = 0;
  bool peer_closed = false;  // the other side's close_notify arrived (via ReadKernelRecord in kTLS)
  std::string error;
};
// One side of the relay: sends <total> pseudo-random bytes from <seed>, then Finish(); receives
// until the peer's close_notify. Run both sides at once (one thread each).
StreamReport RunDataPhase(proxy::SecureLeg& leg, int fd, uint64_t seed, uint64_t total);

// SHA-256 (hex) of the <total> bytes RunDataPhase sends for <seed>.
std::string ExpectedSha256(uint64_t seed, uint64_t total);

}  // namespace ferry::vmtest
