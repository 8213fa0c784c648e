#include "agent/tunnel/ktls.h"

#include <arpa/inet.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "agent/tunnel/openssl_types.h"
#include "common/unique_fd.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

namespace ferry::tunnel {
namespace {

constexpr uint8_t kRecordTypeAlert = 21;

const char* DigestOf(TlsCipher cipher) { return cipher == TlsCipher::kAes128GcmSha256 ? "SHA256" : "SHA384"; }

// Fills one of the kernel's crypto_info layouts (same field names for 128 and 256).
template <typename CryptoInfo>
void FillCryptoInfo(CryptoInfo& info, uint16_t cipher_type, const TrafficKey& key, uint64_t record_seq) {
  static_assert(sizeof(info.salt) + sizeof(info.iv) == 12, "TLS 1.3 nonce is salt || iv");
  info.info.version = TLS_1_3_VERSION;
  info.info.cipher_type = cipher_type;
  std::memcpy(info.key, key.key.data(), sizeof(info.key));
  std::memcpy(info.salt, key.iv.data(), sizeof(info.salt));
  std::memcpy(info.iv, key.iv.data() + sizeof(info.salt), sizeof(info.iv));
  for (size_t i = 0; i < sizeof(info.rec_seq); ++i) {
    info.rec_seq[i] = static_cast<unsigned char>(record_seq >> (8 * (sizeof(info.rec_seq) - 1 - i)));
  }
}

template <typename CryptoInfo>
Result<void> SetCryptoInfo(int fd, KtlsDirection direction, uint16_t cipher_type, const TrafficKey& key,
                           uint64_t record_seq) {
  CryptoInfo info{};
  FillCryptoInfo(info, cipher_type, key, record_seq);
  int rc = setsockopt(fd, SOL_TLS, direction == KtlsDirection::kTx ? TLS_TX : TLS_RX, &info, sizeof(info));
  int saved = errno;
  OPENSSL_cleanse(&info, sizeof(info));
  if (rc != 0) {
    return Error{saved, std::string("setsockopt SOL_TLS ") + (direction == KtlsDirection::kTx ? "TLS_TX" : "TLS_RX")};
  }
  return Ok();
}

Result<void> AttachTlsUlp(int fd) {
  if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) == 0 || errno == EEXIST) return Ok();
  if (IsKtlsUnsupportedError(errno)) return Error{errno, "kernel has no kTLS (TCP_ULP \"tls\" unavailable)"};
  return ErrnoError("setsockopt TCP_ULP tls");
}

struct LoopbackPair {
  UniqueFd client;
  UniqueFd server;
};

Result<LoopbackPair> ConnectLoopbackPair() {
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener) return ErrnoError("socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  auto* sa = reinterpret_cast<sockaddr*>(&address);
  if (bind(listener.get(), sa, length) != 0) return ErrnoError("bind 127.0.0.1:0");
  if (listen(listener.get(), 1) != 0) return ErrnoError("listen");
  if (getsockname(listener.get(), sa, &length) != 0) return ErrnoError("getsockname");
  LoopbackPair pair;
  pair.client.Reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!pair.client) return ErrnoError("socket");
  if (connect(pair.client.get(), sa, length) != 0) return ErrnoError("connect loopback");
  pair.server.Reset(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!pair.server) return ErrnoError("accept");
  return pair;
}

// Installs both directions on both ends. The kernel wants the same suite in both directions of
// a socket and takes keys once, so each suite gets its own fresh pair.
Result<void> ProbeCipher(TlsCipher cipher) {
  auto pair = ConnectLoopbackPair();
  if (!pair) return Error{pair.error().code, "loopback TCP pair for the probe: " + pair.error().Message()};
  const std::array<uint8_t, 48> dummy_secret{};
  auto secret = std::span<const uint8_t>(dummy_secret.data(), TlsCipherSecretSize(cipher));
  for (int fd : {pair->client.get(), pair->server.get()}) {
    FERRY_TRY(InstallKtls(fd, KtlsDirection::kTx, cipher, secret, 0));
    FERRY_TRY(InstallKtls(fd, KtlsDirection::kRx, cipher, secret, 0));
  }
  return Ok();
}

}  // namespace

TrafficKey::~TrafficKey() {
  OPENSSL_cleanse(key.data(), key.size());
  OPENSSL_cleanse(iv.data(), iv.size());
}

bool IsKtlsUnsupportedError(int code) { return code == ENOENT || code == ENOPROTOOPT || code == EOPNOTSUPP; }

Result<std::vector<uint8_t>> HkdfExpandLabel(std::string_view digest, std::span<const uint8_t> secret,
                                             std::string_view label, std::span<const uint8_t> context,
                                             size_t length) {
  std::string full_label = "tls13 " + std::string(label);
  if (full_label.size() > 255 || context.size() > 255 || length > 0xffff) {
    return MakeError("HKDF-Expand-Label argument too long", EINVAL);
  }
  // struct HkdfLabel { uint16 length; opaque label<7..255>; opaque context<0..255>; }
  std::vector<uint8_t> info;
  info.push_back(static_cast<uint8_t>(length >> 8));
  info.push_back(static_cast<uint8_t>(length & 0xff));
  info.push_back(static_cast<uint8_t>(full_label.size()));
  info.insert(info.end(), full_label.begin(), full_label.end());
  info.push_back(static_cast<uint8_t>(context.size()));
  info.insert(info.end(), context.begin(), context.end());

  std::unique_ptr<EVP_KDF, OpenSslDeleter<EVP_KDF, EVP_KDF_free>> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) return OpenSslError("fetch HKDF");
  std::unique_ptr<EVP_KDF_CTX, OpenSslDeleter<EVP_KDF_CTX, EVP_KDF_CTX_free>> ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return OpenSslError("HKDF context");
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  std::string digest_name(digest);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest_name.data(), 0),
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(secret.data()), secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_end(),
  };
  std::vector<uint8_t> out(length);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) return OpenSslError("HKDF-Expand");
  return out;
}

Result<TrafficKey> DeriveTrafficKey(TlsCipher cipher, std::span<const uint8_t> secret) {
  if (secret.size() != TlsCipherSecretSize(cipher)) {
    return MakeError("traffic secret size does not match " + std::string(TlsCipherName(cipher)), EINVAL);
  }
  TrafficKey traffic_key;
  traffic_key.key_size = TlsCipherKeySize(cipher);
  auto key = HkdfExpandLabel(DigestOf(cipher), secret, "key", {}, traffic_key.key_size);
  if (!key) return key.error();
  auto iv = HkdfExpandLabel(DigestOf(cipher), secret, "iv", {}, traffic_key.iv.size());
  if (!iv) return iv.error();
  std::memcpy(traffic_key.key.data(), key->data(), key->size());
  std::memcpy(traffic_key.iv.data(), iv->data(), iv->size());
  OPENSSL_cleanse(key->data(), key->size());
  OPENSSL_cleanse(iv->data(), iv->size());
  return traffic_key;
}

Result<void> InstallKtls(int fd, KtlsDirection direction, TlsCipher cipher, std::span<const uint8_t> secret,
                         uint64_t record_seq) {
  auto key = DeriveTrafficKey(cipher, secret);
  if (!key) return key.error();
  FERRY_TRY(AttachTlsUlp(fd));
  if (cipher == TlsCipher::kAes128GcmSha256) {
    return SetCryptoInfo<tls12_crypto_info_aes_gcm_128>(fd, direction, TLS_CIPHER_AES_GCM_128, *key, record_seq);
  }
  return SetCryptoInfo<tls12_crypto_info_aes_gcm_256>(fd, direction, TLS_CIPHER_AES_GCM_256, *key, record_seq);
}

Result<void> InstallKtls(int fd, const TrafficSecrets& secrets) {
  FERRY_TRY(InstallKtls(fd, KtlsDirection::kTx, secrets.cipher, secrets.tx.secret.span(), secrets.tx.records));
  return InstallKtls(fd, KtlsDirection::kRx, secrets.cipher, secrets.rx.secret.span(), secrets.rx.records);
}

KtlsSupport KtlsAvailable() {
  for (TlsCipher cipher : {TlsCipher::kAes128GcmSha256, TlsCipher::kAes256GcmSha384}) {
    auto probe = ProbeCipher(cipher);
    if (!probe) {
      std::string why = IsKtlsUnsupportedError(probe.error().code) ? "kTLS unavailable: " : "kTLS probe failed: ";
      return {false, why + std::string(TlsCipherName(cipher)) + ": " + probe.error().Message()};
    }
  }
  return {true, "kTLS accepts TLS 1.3 AES-GCM-128/256 transmit and receive keys"};
}

Result<void> SendKtlsAlert(int fd, uint8_t level, uint8_t description) {
  uint8_t alert[2] = {level, description};
  iovec iov{alert, sizeof(alert)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(uint8_t))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_TLS;
  cmsg->cmsg_type = TLS_SET_RECORD_TYPE;
  cmsg->cmsg_len = CMSG_LEN(sizeof(uint8_t));
  *CMSG_DATA(cmsg) = kRecordTypeAlert;
  ssize_t sent;
  do {
    sent = sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent != static_cast<ssize_t>(sizeof(alert))) return ErrnoError("send TLS alert through kTLS");
  return Ok();
}

}  // namespace ferry::tunnel
