#include "leg_socket_driver.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "support/tls_test_context.h"

namespace ferry::vmtest {
namespace {

using proxy::LegSetupState;

constexpr int kPollTimeoutMs = 20000;  // TCG guests are slow; this only bounds a hang
constexpr size_t kChunk = 64 * 1024;

bool Settled(const proxy::LegProgress& p) {
  return p.state == LegSetupState::kReady || p.state == LegSetupState::kFailed;
}

Result<void> SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return ErrnoError("O_NONBLOCK");
  return Ok();
}

// Setup messages are small: the socket buffer takes them whole, but retry on EAGAIN anyway.
Result<void> SendAll(int fd, std::vector<uint8_t>* bytes) {
  size_t done = 0;
  while (done < bytes->size()) {
    ssize_t n = send(fd, bytes->data() + done, bytes->size() - done, MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, kPollTimeoutMs);
      continue;
    }
    if (n < 0) return ErrnoError("send");
    done += static_cast<size_t>(n);
  }
  bytes->clear();
  return Ok();
}

// Receives what is there; an EOF during setup is a failure.
Result<std::vector<uint8_t>> ReceiveSome(int fd) {
  std::vector<uint8_t> bytes(kChunk);
  ssize_t n = recv(fd, bytes.data(), bytes.size(), 0);
  if (n < 0) return ErrnoError("recv during setup");
  if (n == 0) return MakeError("EOF during setup", ECONNRESET);
  bytes.resize(static_cast<size_t>(n));
  return bytes;
}

using testing::Sha256;

// Deterministic pseudo-random bytes (xorshift64*).
class Generator {
 public:
  explicit Generator(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ULL + 1) {}
  void Fill(std::vector<uint8_t>& buffer) {
    for (size_t i = 0; i < buffer.size(); i += 8) {
      state_ ^= state_ >> 12;
      state_ ^= state_ << 25;
      state_ ^= state_ >> 27;
      uint64_t word = state_ * 0x2545F4914F6CDD1DULL;
      std::memcpy(buffer.data() + i, &word, std::min<size_t>(8, buffer.size() - i));
    }
  }

 private:
  uint64_t state_;
};

// The receive half of the data phase: one readable event.
Result<void> ReceiveData(proxy::SecureLeg& leg, int fd, bool kernel, Sha256& hasher, StreamReport& report,
                         std::vector<uint8_t>* to_send) {
  std::vector<uint8_t> buffer(kChunk);
  ssize_t n = recv(fd, buffer.data(), buffer.size(), 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return Ok();
  if (kernel && n < 0 && errno == EIO) {  // a non-data record is next
    auto record = leg.ReadKernelRecord(fd, buffer);
    if (!record) return record.error();
    if (record->kind == proxy::KernelRecordResult::Kind::kData) {
      hasher.Update(buffer.data(), record->bytes);
      report.received_bytes += record->bytes;
    }
    report.peer_closed = record->kind == proxy::KernelRecordResult::Kind::kPeerClosed;
    return Ok();
  }
  if (n < 0) return ErrnoError("recv");
  if (n == 0) return MakeError("TCP EOF before close_notify", ECONNABORTED);
  if (kernel) {
    hasher.Update(buffer.data(), static_cast<size_t>(n));
    report.received_bytes += static_cast<uint64_t>(n);
    return Ok();
  }
  std::vector<uint8_t> plaintext;
  auto result = leg.Unprotect(std::span(buffer).first(static_cast<size_t>(n)), &plaintext, to_send);
  if (!result) return result.error();
  hasher.Update(plaintext.data(), plaintext.size());
  report.received_bytes += plaintext.size();
  report.peer_closed = result->peer_closed;
  return Ok();
}

}  // namespace

Result<SocketPair> ConnectNonBlockingLoopbackPair() {
  auto pair = testing::ConnectLoopbackPair();
  if (!pair) return pair.error();
  FERRY_TRY(SetNonBlocking(pair->client.get()));
  FERRY_TRY(SetNonBlocking(pair->server.get()));
  return pair;
}

Result<SetupResult> RunSetupOverSockets(proxy::SecureLeg& client, int client_fd, proxy::SecureLeg& server,
                                        int server_fd) {
  SetupResult result;
  std::vector<uint8_t> to_server, to_client;
  result.client = client.Start(&to_server);
  result.server = server.Start(&to_client);
  while (true) {
    FERRY_TRY(SendAll(client_fd, &to_server));
    FERRY_TRY(SendAll(server_fd, &to_client));
    if (Settled(result.client) && Settled(result.server)) return result;
    pollfd fds[2] = {{client_fd, POLLIN, 0}, {server_fd, POLLIN, 0}};
    int ready = poll(fds, 2, kPollTimeoutMs);
    if (ready <= 0) return MakeError("setup stalled", ETIMEDOUT);
    if ((fds[0].revents & (POLLIN | POLLHUP)) != 0 && !Settled(result.client)) {
      auto bytes = ReceiveSome(client_fd);
      if (!bytes) return bytes.error();
      result.client = client.OnSetupBytes(*bytes, &to_server);
    }
    if ((fds[1].revents & (POLLIN | POLLHUP)) != 0 && !Settled(result.server)) {
      auto bytes = ReceiveSome(server_fd);
      if (!bytes) return bytes.error();
      result.server = server.OnSetupBytes(*bytes, &to_client);
      if (result.server.state == LegSetupState::kNeedDecision) {
        result.request = server.request();
        result.server = server.Accept(&to_client);
      }
    }
  }
}

StreamReport RunDataPhase(proxy::SecureLeg& leg, int fd, uint64_t seed, uint64_t total) {
  StreamReport report;
  bool kernel = leg.mode() == "ktls";
  Generator generator(seed);
  Sha256 sent_hash, received_hash;
  std::vector<uint8_t> chunk(kChunk), to_send;
  size_t send_offset = 0;
  uint64_t produced = 0;
  bool finished = false;
  auto fail = [&](const Error& error) {
    report.error = error.Message();
    return report;
  };
  while (!(finished && report.peer_closed && send_offset == to_send.size())) {
    if (send_offset == to_send.size()) {
      to_send.clear();
      send_offset = 0;
      if (produced < total) {
        chunk.resize(std::min<uint64_t>(kChunk, total - produced));
        generator.Fill(chunk);
        sent_hash.Update(chunk.data(), chunk.size());
        produced += chunk.size();
        // kTLS: the kernel makes the records from plain sends; user space: Protect() does.
        if (kernel) {
          to_send = chunk;
        } else if (auto protected_ = leg.Protect(chunk, &to_send); !protected_) {
          return fail(protected_.error());
        }
      } else if (!finished) {
        finished = true;
        if (auto done = leg.Finish(fd, &to_send); !done) return fail(done.error());  // kTLS: sent already
        continue;
      }
    }
    pollfd p{fd, static_cast<short>((report.peer_closed ? 0 : POLLIN) | (to_send.empty() ? 0 : POLLOUT)), 0};
    if (poll(&p, 1, kPollTimeoutMs) <= 0) return fail(MakeError("data phase stalled", ETIMEDOUT));
    if ((p.revents & POLLOUT) != 0) {
      ssize_t n = send(fd, to_send.data() + send_offset, to_send.size() - send_offset, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EINTR) return fail(ErrnoError("send"));
      if (n > 0) send_offset += static_cast<size_t>(n);
    }
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !report.peer_closed) {
      std::vector<uint8_t> reply;  // user space: anything TLS must answer goes out after our data
      if (auto received = ReceiveData(leg, fd, kernel, received_hash, report, &reply); !received) {
        return fail(received.error());
      }
      to_send.insert(to_send.end(), reply.begin(), reply.end());
    }
  }
  report.sent_sha256 = sent_hash.HexDigest();
  report.received_sha256 = received_hash.HexDigest();
  return report;
}

std::string ExpectedSha256(uint64_t seed, uint64_t total) {
  Generator generator(seed);
  Sha256 hasher;
  std::vector<uint8_t> chunk(kChunk);
  for (uint64_t done = 0; done < total; done += chunk.size()) {
    chunk.resize(std::min<uint64_t>(kChunk, total - done));
    generator.Fill(chunk);
    hasher.Update(chunk.data(), chunk.size());
  }
  return hasher.HexDigest();
}

}  // namespace ferry::vmtest
