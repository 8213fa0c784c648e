// Two tunnel endpoints on a real loopback TCP connection for the kTLS guest test: TLS 1.3
// handshake and CONNECT preface through TlsSession (OpenSSL, memory BIOs, socket I/O here), then
// the record layer handed to the kernel.
#pragma once

#include <memory>
#include <string>

#include "agent/tunnel/tls_session.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace ferry::vmtest {

struct TunnelEnd {
  UniqueFd fd;
  std::unique_ptr<tunnel::TlsSession> tls;
};

struct TunnelPair {
  TunnelEnd client;
  TunnelEnd server;
};

// Connected loopback sockets with fresh (not yet handshaken) sessions around them.
Result<TunnelPair> ConnectTunnelPair(std::shared_ptr<tunnel::TlsContext> client_ctx,
                                     std::shared_ptr<tunnel::TlsContext> server_ctx, const std::string& peer_key);

// Sends every pending ciphertext byte of <end> on its socket.
Result<void> FlushCiphertext(TunnelEnd& end);
// Feeds whatever the socket has right now into the session; returns the bytes moved.
Result<size_t> PullCiphertext(TunnelEnd& end);

Result<void> HandshakeOverSockets(TunnelPair& pair);
// CONNECT 127.0.0.1:<port> -> 200 OK, both through OpenSSL (the server checks the parse only; the
// target rule is the agent's business). Leaves nothing buffered on either side.
Result<void> ExchangePreface(TunnelPair& pair);
// Reads plaintext through OpenSSL until <count> bytes arrived (or close_notify); returns them.
Result<std::string> ReadThroughOpenSsl(TunnelEnd& end, size_t count);

}  // namespace ferry::vmtest
