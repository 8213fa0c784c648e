#include "ktls_probe.h"

#include <arpa/inet.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <memory>
#include <vector>

#include "common/unique_fd.h"

namespace ferry::vmtest {
namespace {

constexpr size_t kRecordHeader = 5;   // type, version (2), length (2)
constexpr size_t kExplicitNonce = 8;  // TLS 1.2 GCM carries 8 nonce bytes in every record
constexpr size_t kTag = 16;

struct ConnectedPair {
  UniqueFd client;
  UniqueFd server;
};

Result<ConnectedPair> ConnectOverLoopback() {
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener) return ErrnoError("socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (bind(listener.get(), reinterpret_cast<sockaddr*>(&address), length) != 0) return ErrnoError("bind");
  if (listen(listener.get(), 1) != 0) return ErrnoError("listen");
  if (getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return ErrnoError("getsockname");
  }
  ConnectedPair pair;
  pair.client.Reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!pair.client) return ErrnoError("socket");
  if (connect(pair.client.get(), reinterpret_cast<sockaddr*>(&address), length) != 0) return ErrnoError("connect");
  pair.server.Reset(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!pair.server) return ErrnoError("accept");
  return pair;
}

Result<std::vector<unsigned char>> ReadExactly(int fd, size_t size) {
  std::vector<unsigned char> bytes(size);
  size_t done = 0;
  while (done < size) {
    ssize_t n = read(fd, bytes.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("read TLS record");
    if (n == 0) return MakeError("peer closed before a whole TLS record arrived");
    done += static_cast<size_t>(n);
  }
  return bytes;
}

// Decrypts one TLS 1.2 AES-128-GCM record (sequence number 0) with <keys>.
Result<std::string> DecryptRecord(const tls12_crypto_info_aes_gcm_128& keys, const std::vector<unsigned char>& record) {
  size_t ciphertext_size = record.size() - kRecordHeader - kExplicitNonce - kTag;
  std::array<unsigned char, 12> nonce{};
  std::memcpy(nonce.data(), keys.salt, sizeof(keys.salt));
  std::memcpy(nonce.data() + sizeof(keys.salt), record.data() + kRecordHeader, kExplicitNonce);
  // Additional data: sequence number (8), type, version, plaintext length.
  std::array<unsigned char, 13> aad{};
  std::memcpy(aad.data(), keys.rec_seq, sizeof(keys.rec_seq));
  aad[8] = record[0];
  aad[9] = record[1];
  aad[10] = record[2];
  aad[11] = static_cast<unsigned char>(ciphertext_size >> 8);
  aad[12] = static_cast<unsigned char>(ciphertext_size & 0xff);

  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  const unsigned char* ciphertext = record.data() + kRecordHeader + kExplicitNonce;
  std::vector<unsigned char> tag(ciphertext + ciphertext_size, ciphertext + ciphertext_size + kTag);
  std::string plaintext(ciphertext_size, '\0');
  int out = 0;
  bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr, keys.key, nonce.data()) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &out, aad.data(), static_cast<int>(aad.size())) == 1 &&
            EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()), &out, ciphertext,
                              static_cast<int>(ciphertext_size)) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTag), tag.data()) == 1 &&
            EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()) + out, &out) == 1;
  if (!ok) return MakeError("TLS record from the kernel does not decrypt/authenticate with the installed keys");
  return plaintext;
}

}  // namespace

Result<std::string> SendThroughKtlsAndDecrypt(const std::string& plaintext) {
  auto pair = ConnectOverLoopback();
  if (!pair) return pair.error();
  if (setsockopt(pair->client.get(), SOL_TCP, TCP_ULP, "tls", sizeof("tls")) != 0) {
    return ErrnoError("setsockopt TCP_ULP tls (is the tls module loaded?)");
  }
  tls12_crypto_info_aes_gcm_128 keys{};
  keys.info.version = TLS_1_2_VERSION;
  keys.info.cipher_type = TLS_CIPHER_AES_GCM_128;
  for (size_t i = 0; i < sizeof(keys.key); ++i) keys.key[i] = static_cast<unsigned char>(0x10 + i);
  for (size_t i = 0; i < sizeof(keys.iv); ++i) keys.iv[i] = static_cast<unsigned char>(0x40 + i);
  for (size_t i = 0; i < sizeof(keys.salt); ++i) keys.salt[i] = static_cast<unsigned char>(0x70 + i);
  if (setsockopt(pair->client.get(), SOL_TLS, TLS_TX, &keys, sizeof(keys)) != 0) {
    return ErrnoError("setsockopt TLS_TX aes-gcm-128 (gcm/ctr/ghash modules missing?)");
  }
  if (write(pair->client.get(), plaintext.data(), plaintext.size()) != static_cast<ssize_t>(plaintext.size())) {
    return ErrnoError("write through kTLS");
  }
  auto header = ReadExactly(pair->server.get(), kRecordHeader);
  if (!header) return header.error();
  const auto& h = *header;
  if (h[0] != 0x17 || h[1] != 0x03 || h[2] != 0x03) return MakeError("wire bytes are not a TLS 1.2 application record");
  size_t body_size = (static_cast<size_t>(h[3]) << 8) | h[4];
  if (body_size < kExplicitNonce + kTag) return MakeError("TLS record too short");
  auto body = ReadExactly(pair->server.get(), body_size);
  if (!body) return body.error();
  std::vector<unsigned char> record(h);
  record.insert(record.end(), body->begin(), body->end());
  return DecryptRecord(keys, record);
}

}  // namespace ferry::vmtest
