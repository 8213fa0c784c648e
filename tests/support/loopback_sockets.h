// Blocking TCP sockets on 127.0.0.1 for tests and benchmarks: a listener on an ephemeral port, its
// address, a connect, and a connected pair. Test code only; the engine uses io_uring.
#pragma once

#include "common/ipv4.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace ferry::testing {

// A TCP socket bound to 127.0.0.1 on an ephemeral port, listening when backlog >= 0.
// Invalid on failure, with errno from the call that failed.
UniqueFd BoundLoopbackSocket(int backlog);
// The address <fd> is bound to (port 0 when getsockname fails).
Ipv4Endpoint LocalAddress(int fd);
// Blocking connect to <target>; invalid on failure, with errno from the call that failed.
UniqueFd ConnectTo(const Ipv4Endpoint& target);

struct ConnectedPair {
  UniqueFd client;  // the connecting end
  UniqueFd server;  // the accepted end
};
// A connected loopback TCP pair, both ends blocking; the listener is gone when this returns.
Result<ConnectedPair> ConnectLoopbackPair();
// Sends all `size` bytes on a blocking socket; false when the peer is gone or on error.
bool WriteAll(int fd, const void* data, size_t size);

}  // namespace ferry::testing
