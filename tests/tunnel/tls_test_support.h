// Helpers for driving two TlsSessions against each other in one process, and an independent
// TLS 1.3 record decryptor (EVP AES-GCM) to check the secrets the sessions export.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "agent/tunnel/ktls.h"
#include "agent/tunnel/tls_session.h"
#include "test_pki.h"

namespace ferry::tunnel::testing {

inline const std::string kClientId = "spiffe://cluster.local/ns/default/sa/frontend";
inline const std::string kServerId = "spiffe://cluster.local/ns/default/sa/api";

// Accepts any chain that verified, counting calls and remembering the peer's URI SAN.
struct RecordingVerifier {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<std::string> last_peer = std::make_shared<std::string>();
  std::shared_ptr<int> last_chain_length = std::make_shared<int>(0);
  PeerVerifier Make() const;
};

std::shared_ptr<TlsContext> MakeContext(TlsRole role, const TestCa& ca, const std::string& id,
                                        PeerVerifier verifier, std::vector<TlsCipher> ciphers = {},
                                        int session_tickets = 0);

// Moves all pending ciphertext from <from> into <to>; returns the bytes moved.
size_t Transfer(TlsSession& from, TlsSession& to);

struct HandshakeOutcome {
  Result<bool> client = false;
  Result<bool> server = false;
};
// Runs both handshakes to completion or failure, shuttling ciphertext between them.
HandshakeOutcome RunHandshake(TlsSession& client, TlsSession& server);

// Reads everything currently readable from <session> (after feeding it), up to <limit> bytes.
Result<std::string> ReadAvailable(TlsSession& session, size_t limit = 1 << 20);

// Splits a byte stream into TLS records (header + body); a trailing partial record is dropped.
std::vector<std::vector<uint8_t>> SplitRecords(const std::vector<uint8_t>& stream);

struct DecryptedRecord {
  uint8_t inner_type = 0;
  std::string content;
};
// Opens a TLS 1.3 record: nonce = iv XOR seq, additional data = the 5-byte record header.
Result<DecryptedRecord> DecryptTls13Record(TlsCipher cipher, const TrafficKey& key, uint64_t seq,
                                           const std::vector<uint8_t>& record);

}  // namespace ferry::tunnel::testing
