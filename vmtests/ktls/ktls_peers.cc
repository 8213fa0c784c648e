#include "ktls_peers.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <optional>
#include <vector>

#include "agent/tunnel/connect_preface.h"
#include "support/loopback_sockets.h"

namespace ferry::vmtest {
namespace {

constexpr int kMaxRounds = 2000;

std::span<const uint8_t> Bytes(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

void WaitReadable(int a, int b) {
  pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
  poll(fds, 2, 50);
}

}  // namespace

Result<TunnelPair> ConnectTunnelPair(std::shared_ptr<tunnel::TlsContext> client_ctx,
                                     std::shared_ptr<tunnel::TlsContext> server_ctx, const std::string& peer_key) {
  auto sockets = testing::ConnectLoopbackPair();
  if (!sockets) return sockets.error();
  TunnelPair pair;
  pair.client.fd = std::move(sockets->client);
  pair.server.fd = std::move(sockets->server);
  auto client = tunnel::TlsSession::Create(std::move(client_ctx), peer_key);
  if (!client) return client.error();
  auto server = tunnel::TlsSession::Create(std::move(server_ctx));
  if (!server) return server.error();
  pair.client.tls = std::move(*client);
  pair.server.tls = std::move(*server);
  return pair;
}

Result<void> FlushCiphertext(TunnelEnd& end) {
  auto bytes = end.tls->TakeCiphertext();
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(end.fd.get(), bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("send ciphertext");
    sent += static_cast<size_t>(n);
  }
  return Ok();
}

Result<size_t> PullCiphertext(TunnelEnd& end) {
  std::vector<uint8_t> buffer(64 * 1024);
  size_t total = 0;
  for (;;) {
    ssize_t n = recv(end.fd.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return total;
    if (n < 0) return ErrnoError("recv ciphertext");
    if (n == 0) return total;
    FERRY_TRY(end.tls->FeedCiphertext({buffer.data(), static_cast<size_t>(n)}));
    total += static_cast<size_t>(n);
  }
}

Result<void> HandshakeOverSockets(TunnelPair& pair) {
  using tunnel::TlsState;
  for (int round = 0; round < kMaxRounds; ++round) {
    if (pair.client.tls->state() == TlsState::kHandshaking) FERRY_TRY(pair.client.tls->Handshake());
    FERRY_TRY(FlushCiphertext(pair.client));
    auto to_server = PullCiphertext(pair.server);
    if (!to_server) return to_server.error();
    if (pair.server.tls->state() == TlsState::kHandshaking) FERRY_TRY(pair.server.tls->Handshake());
    FERRY_TRY(FlushCiphertext(pair.server));
    auto to_client = PullCiphertext(pair.client);
    if (!to_client) return to_client.error();
    if (pair.client.tls->state() == TlsState::kEstablished && pair.server.tls->state() == TlsState::kEstablished) {
      return Ok();
    }
    if (*to_server == 0 && *to_client == 0) WaitReadable(pair.client.fd.get(), pair.server.fd.get());
  }
  return MakeError("handshake did not finish");
}

Result<std::string> ReadThroughOpenSsl(TunnelEnd& end, size_t count) {
  std::string out;
  std::vector<uint8_t> buffer(16 * 1024);
  for (int idle = 0; out.size() < count && idle < kMaxRounds;) {
    auto read = end.tls->Read(buffer);
    if (!read) return read.error();
    if (read->peer_closed) break;
    if (read->bytes > 0) {
      out.append(reinterpret_cast<const char*>(buffer.data()), read->bytes);
      continue;
    }
    auto pulled = PullCiphertext(end);
    if (!pulled) return pulled.error();
    if (*pulled == 0) {
      ++idle;
      pollfd fd{end.fd.get(), POLLIN, 0};
      poll(&fd, 1, 50);
    }
  }
  return out;
}

Result<void> ExchangePreface(TunnelPair& pair) {
  std::string request = tunnel::BuildConnectRequest({0x7f000001, 8080});
  FERRY_TRY(pair.client.tls->Write(Bytes(request)));
  FERRY_TRY(FlushCiphertext(pair.client));
  auto got_request = ReadThroughOpenSsl(pair.server, request.size());
  if (!got_request) return got_request.error();
  tunnel::ConnectRequestParser request_parser;
  auto parsed = request_parser.Feed(*got_request);
  if (!parsed) return parsed.error();
  if (!parsed->has_value()) return MakeError("CONNECT request incomplete");

  std::string response = tunnel::BuildConnectResponse(tunnel::ConnectStatus::kOk);
  FERRY_TRY(pair.server.tls->Write(Bytes(response)));
  FERRY_TRY(FlushCiphertext(pair.server));
  auto got_response = ReadThroughOpenSsl(pair.client, response.size());
  if (!got_response) return got_response.error();
  tunnel::ConnectResponseParser response_parser;
  auto status = response_parser.Feed(*got_response);
  if (!status) return status.error();
  if (!status->has_value() || !(*status)->ok()) return MakeError("CONNECT not answered with 200");
  return Ok();
}

}  // namespace ferry::vmtest
