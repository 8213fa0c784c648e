// kTLS end to end on Debian's 6.1 kernel (run by ferry_qemu_test in the guest): a TLS 1.3
// handshake through TlsSession (memory BIOs), the CONNECT preface through OpenSSL, then the
// application traffic secrets installed as kTLS TX and RX on both sockets, 16 MiB each way, and
// close_notify read back through the record-type reader.
#include <gtest/gtest.h>
#include <linux/tls.h>
#include <sys/socket.h>

#include <chrono>
#include <map>
#include <thread>

#include "agent/tunnel/ktls.h"
#include "agent/tunnel/ktls_reader.h"
#include "ktls_peers.h"
#include "support/tls_stat.h"
#include "support/tls_test_context.h"
#include "test_result.h"
#include "tunnel/test_pki.h"

namespace ferry::vmtest {
namespace {

using tunnel::KtlsRecordKind;
using tunnel::TlsCipher;
using tunnel::TlsRole;

const std::string kClientId = "spiffe://cluster.local/ns/default/sa/frontend";
const std::string kServerId = "spiffe://cluster.local/ns/default/sa/api";

std::shared_ptr<tunnel::TlsContext> Context(TlsRole role, const tunnel::testing::TestCa& ca, const std::string& id,
                                            std::vector<TlsCipher> ciphers, int tickets) {
  return testing::AcceptAnyPeerTlsContext(role, ca, id, tickets, std::move(ciphers));
}

// Deterministic pseudo-random bytes (xorshift64*), hashed as they go.
class StreamHasher {
 public:
  void Update(const uint8_t* data, size_t size) {
    sha256_.Update(data, size);
    bytes_ += size;
  }
  std::string Final() { return sha256_.HexDigest(); }
  size_t bytes() const { return bytes_; }

 private:
  testing::Sha256 sha256_;
  size_t bytes_ = 0;
};

void FillPseudoRandom(uint64_t& state, std::vector<uint8_t>& buffer) {
  for (size_t i = 0; i + 8 <= buffer.size(); i += 8) {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    uint64_t word = state * 0x2545F4914F6CDD1DULL;
    std::memcpy(buffer.data() + i, &word, 8);
  }
}

struct StreamOutcome {
  std::string sha256;
  size_t bytes = 0;
  std::string error;
  KtlsRecordKind ended_with = KtlsRecordKind::kData;
};

// Writes <total> bytes with plain write() (the kernel makes the records), then close_notify.
void WriteThroughKernel(int fd, uint64_t seed, size_t total, StreamOutcome* out) {
  StreamHasher hasher;
  std::vector<uint8_t> chunk(64 * 1024);
  while (hasher.bytes() < total) {
    FillPseudoRandom(seed, chunk);
    size_t size = std::min(chunk.size(), total - hasher.bytes());
    for (size_t done = 0; done < size;) {
      ssize_t n = send(fd, chunk.data() + done, size - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        out->error = std::string("send: ") + std::strerror(errno);
        return;
      }
      done += static_cast<size_t>(n);
    }
    hasher.Update(chunk.data(), size);
  }
  out->bytes = hasher.bytes();
  out->sha256 = hasher.Final();
  auto closed = tunnel::SendKtlsCloseNotify(fd);
  if (!closed) out->error = closed.error().Message();
}

// Reads through the kernel until a non-data record (close_notify expected) or an error.
void ReadThroughKernel(int fd, StreamOutcome* out) {
  StreamHasher hasher;
  std::vector<uint8_t> buffer(64 * 1024);
  for (;;) {
    auto record = tunnel::ReadKtlsRecord(fd, buffer);
    if (!record) {
      out->error = record.error().Message();
      return;
    }
    if (record->kind != KtlsRecordKind::kData) {
      out->ended_with = record->kind;
      break;
    }
    hasher.Update(buffer.data(), record->bytes);
  }
  out->bytes = hasher.bytes();
  out->sha256 = hasher.Final();
}

std::string ExpectedSha256(uint64_t seed, size_t total) {
  StreamHasher hasher;
  std::vector<uint8_t> chunk(64 * 1024);
  while (hasher.bytes() < total) {
    FillPseudoRandom(seed, chunk);
    hasher.Update(chunk.data(), std::min(chunk.size(), total - hasher.bytes()));
  }
  return hasher.Final();
}

TEST(KtlsGuest, KernelOffersTls13Offload) {
  auto support = tunnel::KtlsAvailable();
  EXPECT_TRUE(support.available) << support.detail;
}

struct TransferCase {
  TlsCipher cipher;
  int tickets;
  bool resume;   // second connection of the same pair of identities (PSK), then kTLS
  size_t bytes;  // each way
};

class KtlsTransfer : public ::testing::TestWithParam<TransferCase> {};

TEST_P(KtlsTransfer, BothDirectionsOffloadedCarryBytesIntactAndClose) {
  const TransferCase& param = GetParam();
  tunnel::testing::TestCa ca;
  auto client_ctx = Context(TlsRole::kClient, ca, kClientId, {param.cipher}, 0);
  auto server_ctx = Context(TlsRole::kServer, ca, kServerId, {param.cipher}, param.tickets);
  if (param.resume) {
    auto first = ConnectTunnelPair(client_ctx, server_ctx, kServerId);
    ASSERT_OK(first);
    ASSERT_OK(HandshakeOverSockets(*first));
    ASSERT_OK(ExchangePreface(*first));  // the client reads the tickets on the way
    ASSERT_GT(client_ctx->session_cache().Count(kServerId), 0u);
  }
  auto pair = ConnectTunnelPair(client_ctx, server_ctx, kServerId);
  ASSERT_OK(pair);
  ASSERT_OK(HandshakeOverSockets(*pair));
  EXPECT_EQ(pair->client.tls->resumed(), param.resume);
  ASSERT_OK(ExchangePreface(*pair));

  auto client_secrets = pair->client.tls->HandOffToKernel();
  auto server_secrets = pair->server.tls->HandOffToKernel();
  ASSERT_OK(client_secrets);
  ASSERT_OK(server_secrets);
  EXPECT_EQ(client_secrets->cipher, param.cipher);
  EXPECT_EQ(client_secrets->tx.records, 1u);                                             // CONNECT
  // Tickets + the 200 response. OpenSSL sends at most one ticket after a resumed handshake.
  uint64_t tickets = param.resume ? std::min(param.tickets, 1) : param.tickets;
  EXPECT_EQ(client_secrets->rx.records, 1u + tickets);
  auto before = testing::ReadTlsStat();
  ASSERT_OK(tunnel::InstallKtls(pair->client.fd.get(), *client_secrets));
  ASSERT_OK(tunnel::InstallKtls(pair->server.fd.get(), *server_secrets));

  auto started = std::chrono::steady_clock::now();
  StreamOutcome client_sent, server_sent, client_got, server_got;
  std::thread t1(WriteThroughKernel, pair->client.fd.get(), 1, param.bytes, &client_sent);
  std::thread t2(WriteThroughKernel, pair->server.fd.get(), 2, param.bytes, &server_sent);
  std::thread t3(ReadThroughKernel, pair->server.fd.get(), &server_got);
  std::thread t4(ReadThroughKernel, pair->client.fd.get(), &client_got);
  t1.join();
  t2.join();
  t3.join();
  t4.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "kTLS " << tunnel::TlsCipherName(param.cipher) << ": " << 2 * param.bytes / (1024 * 1024)
            << " MiB in " << seconds << " s\n";

  for (const StreamOutcome* outcome : {&client_sent, &server_sent, &client_got, &server_got}) {
    EXPECT_EQ(outcome->error, "");
  }
  EXPECT_EQ(server_got.bytes, param.bytes);
  EXPECT_EQ(client_got.bytes, param.bytes);
  EXPECT_EQ(server_got.sha256, ExpectedSha256(1, param.bytes));
  EXPECT_EQ(client_got.sha256, ExpectedSha256(2, param.bytes));
  EXPECT_EQ(server_got.ended_with, KtlsRecordKind::kCloseNotify);
  EXPECT_EQ(client_got.ended_with, KtlsRecordKind::kCloseNotify);

  auto after = testing::ReadTlsStat();
  EXPECT_GE(after["TlsTxSw"], before["TlsTxSw"] + 2);
  EXPECT_GE(after["TlsRxSw"], before["TlsRxSw"] + 2);
  EXPECT_EQ(after["TlsDecryptError"], 0u);
}

constexpr size_t kMiB = 1024 * 1024;

// 16 MiB each way for both suites. The guest runs under TCG (no KVM here): measured 11-17 s per
// suite and ~41 s for the whole binary with the host at load 9.5; ~75 s while a sanitizer build
// competed for the two cores. The ticket and
// resumption variants move 1 MiB: what they add is the starting record sequence, which the first
// record already proves.
INSTANTIATE_TEST_SUITE_P(
    Suites, KtlsTransfer,
    ::testing::Values(TransferCase{TlsCipher::kAes128GcmSha256, 0, false, 16 * kMiB},
                      TransferCase{TlsCipher::kAes256GcmSha384, 0, false, 16 * kMiB},
                      TransferCase{TlsCipher::kAes128GcmSha256, 2, false, 1 * kMiB},
                      TransferCase{TlsCipher::kAes256GcmSha384, 2, true, 1 * kMiB}),
    [](const auto& info) {
      return std::string(tunnel::TlsCipherName(info.param.cipher)) + "_tickets" + std::to_string(info.param.tickets) +
             (info.param.resume ? "_resumed" : "");
    });

}  // namespace
}  // namespace ferry::vmtest
