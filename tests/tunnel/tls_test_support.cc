#include "tls_test_support.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace ferry::tunnel::testing {

PeerVerifier RecordingVerifier::Make() const {
  auto calls_copy = calls;
  auto peer_copy = last_peer;
  auto chain_copy = last_chain_length;
  return [calls_copy, peer_copy, chain_copy](X509* leaf, STACK_OF(X509) * chain) -> Result<void> {
    ++*calls_copy;
    *peer_copy = UriSan(leaf);
    *chain_copy = sk_X509_num(chain);
    return Ok();
  };
}

std::shared_ptr<TlsContext> MakeContext(TlsRole role, const TestCa& ca, const std::string& id,
                                        PeerVerifier verifier, std::vector<TlsCipher> ciphers,
                                        int session_tickets) {
  TlsContextOptions options;
  options.role = role;
  options.credentials = ca.IssueLeaf(id);
  options.trust_roots.push_back(ca.ShareRoot());
  if (!ciphers.empty()) options.ciphers = std::move(ciphers);
  options.session_tickets = session_tickets;
  options.verify_peer = std::move(verifier);
  auto context = TlsContext::Create(std::move(options));
  if (!context) throw std::runtime_error(context.error().Message());
  return *context;
}

size_t Transfer(TlsSession& from, TlsSession& to) {
  auto bytes = from.TakeCiphertext();
  if (!bytes.empty() && !to.FeedCiphertext(bytes).ok()) return 0;
  return bytes.size();
}

HandshakeOutcome RunHandshake(TlsSession& client, TlsSession& server) {
  HandshakeOutcome outcome;
  for (int round = 0; round < 10; ++round) {
    if (client.state() == TlsState::kHandshaking) outcome.client = client.Handshake();
    size_t moved = Transfer(client, server);
    if (server.state() == TlsState::kHandshaking) outcome.server = server.Handshake();
    moved += Transfer(server, client);
    bool client_done = !outcome.client.ok() || *outcome.client;
    bool server_done = !outcome.server.ok() || *outcome.server;
    if (client_done && server_done && moved == 0) break;
  }
  return outcome;
}

Result<std::string> ReadAvailable(TlsSession& session, size_t limit) {
  std::string out;
  std::vector<uint8_t> buffer(16384);
  while (out.size() < limit) {
    auto read = session.Read(buffer);
    if (!read) return read.error();
    if (read->bytes == 0) break;
    out.append(reinterpret_cast<const char*>(buffer.data()), read->bytes);
  }
  return out;
}

std::vector<std::vector<uint8_t>> SplitRecords(const std::vector<uint8_t>& stream) {
  std::vector<std::vector<uint8_t>> records;
  size_t offset = 0;
  while (stream.size() - offset >= 5) {
    size_t length = (static_cast<size_t>(stream[offset + 3]) << 8) | stream[offset + 4];
    if (stream.size() - offset < 5 + length) break;
    records.emplace_back(stream.begin() + static_cast<long>(offset), stream.begin() + static_cast<long>(offset + 5 + length));
    offset += 5 + length;
  }
  return records;
}

Result<DecryptedRecord> DecryptTls13Record(TlsCipher cipher, const TrafficKey& key, uint64_t seq,
                                           const std::vector<uint8_t>& record) {
  constexpr size_t kHeader = 5, kTag = 16;
  if (record.size() < kHeader + kTag + 1) return MakeError("record too short");
  std::array<uint8_t, 12> nonce = key.iv;
  for (size_t i = 0; i < 8; ++i) nonce[11 - i] ^= static_cast<uint8_t>(seq >> (8 * i));
  size_t body = record.size() - kHeader - kTag;
  std::vector<uint8_t> plain(body);
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  const EVP_CIPHER* aead = cipher == TlsCipher::kAes128GcmSha256 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
  int len = 0;
  std::vector<uint8_t> tag(record.end() - kTag, record.end());
  bool ok = EVP_DecryptInit_ex(ctx.get(), aead, nullptr, key.key.data(), nonce.data()) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &len, record.data(), kHeader) == 1 &&
            EVP_DecryptUpdate(ctx.get(), plain.data(), &len, record.data() + kHeader, static_cast<int>(body)) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag, tag.data()) == 1 &&
            EVP_DecryptFinal_ex(ctx.get(), plain.data() + len, &len) == 1;
  if (!ok) return MakeError("record does not authenticate");
  // TLSInnerPlaintext = content || type || zero padding
  while (!plain.empty() && plain.back() == 0) plain.pop_back();
  if (plain.empty()) return MakeError("record without inner content type");
  DecryptedRecord out;
  out.inner_type = plain.back();
  plain.pop_back();
  out.content.assign(plain.begin(), plain.end());
  return out;
}

}  // namespace ferry::tunnel::testing
