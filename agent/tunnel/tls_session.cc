#include "agent/tunnel/tls_session.h"

#include <openssl/err.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>
#include <new>

namespace ferry::tunnel {
namespace {

constexpr uint16_t kTlsAes128GcmSha256 = 0x1301;
constexpr uint16_t kTlsAes256GcmSha384 = 0x1302;

// The session's memory BIOs: bytes are appended at the back and read from the front, like
// BIO_s_mem, but the storage is freed whenever the queue runs empty. BIO_s_mem keeps its largest
// size for the BIO's life (a handshake flight, a 16 KiB record), which every idle tunnelled
// connection would carry four times over; OpenSSL's own record buffers are released the same
// way (SSL_MODE_RELEASE_BUFFERS).
struct ByteQueue {
  std::vector<uint8_t> bytes;
  size_t head = 0;  // bytes before it were read
  size_t pending() const { return bytes.size() - head; }
  // Marks `n` more bytes read; an emptied queue lets its storage go.
  void Consume(size_t n) {
    head += n;
    if (head == bytes.size()) *this = ByteQueue{};
  }
};

ByteQueue* QueueOf(BIO* bio) { return static_cast<ByteQueue*>(BIO_get_data(bio)); }

int QueueWrite(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  if (size <= 0) return 0;
  ByteQueue* queue = QueueOf(bio);
  // As bytes of the vector's own type: inserting a char range converts byte by byte instead of
  // one memmove (it was a third of the agents' CPU in a cross-node bulk transfer).
  const auto* bytes = reinterpret_cast<const uint8_t*>(data);
  queue->bytes.insert(queue->bytes.end(), bytes, bytes + size);
  return size;
}

int QueueRead(BIO* bio, char* out, int size) {
  BIO_clear_retry_flags(bio);
  if (size <= 0) return 0;
  ByteQueue* queue = QueueOf(bio);
  if (queue->pending() == 0) {
    BIO_set_retry_read(bio);  // empty means "wait for more", never end of stream
    return -1;
  }
  size_t n = std::min(queue->pending(), static_cast<size_t>(size));
  std::memcpy(out, queue->bytes.data() + queue->head, n);
  queue->Consume(n);
  return static_cast<int>(n);
}

long QueueCtrl(BIO* bio, int command, long /*larg*/, void* /*parg*/) {
  ByteQueue* queue = QueueOf(bio);
  switch (command) {
    case BIO_CTRL_PENDING: return static_cast<long>(std::min<size_t>(queue->pending(), LONG_MAX));
    case BIO_CTRL_WPENDING: return 0;
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_EOF: return 0;
    case BIO_CTRL_RESET:
      *queue = ByteQueue{};
      return 1;
    default: return 0;  // unsupported, e.g. the kTLS queries: "no"
  }
}

int QueueCreate(BIO* bio) {
  BIO_set_data(bio, new (std::nothrow) ByteQueue());
  BIO_set_init(bio, 1);
  return BIO_get_data(bio) != nullptr ? 1 : 0;
}

int QueueDestroy(BIO* bio) {
  delete QueueOf(bio);
  BIO_set_data(bio, nullptr);
  return 1;
}

// Built once per process and never freed (OpenSSL keeps a pointer to it in every such BIO).
const BIO_METHOD* ByteQueueMethod() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ferry byte queue");
    if (m == nullptr) return m;
    BIO_meth_set_write(m, QueueWrite);
    BIO_meth_set_read(m, QueueRead);
    BIO_meth_set_ctrl(m, QueueCtrl);
    BIO_meth_set_create(m, QueueCreate);
    BIO_meth_set_destroy(m, QueueDestroy);
    return m;
  }();
  return method;
}

BIO* NewByteQueueBio() {
  const BIO_METHOD* method = ByteQueueMethod();
  return method != nullptr ? BIO_new(method) : nullptr;
}

}  // namespace

std::string_view TlsStateName(TlsState state) {
  switch (state) {
    case TlsState::kHandshaking: return "handshaking";
    case TlsState::kEstablished: return "established";
    case TlsState::kShutdownSent: return "shutdown-sent";
    case TlsState::kPeerClosed: return "peer-closed";
    case TlsState::kClosed: return "closed";
    case TlsState::kOffloaded: return "offloaded";
    case TlsState::kFailed: return "failed";
  }
  return "unknown";
}

TlsSession::TlsSession(std::shared_ptr<TlsContext> context, std::string peer_key)
    : context_(std::move(context)), peer_key_(std::move(peer_key)) {}

TlsSession::~TlsSession() {
  if (!ssl_) return;
  SSL_set_app_data(ssl_.get(), nullptr);
  // OpenSSL takes a connection freed without close_notify for a bad one and drops its session
  // from the server's cache: that would void the last ticket we sent on every connection that
  // ends with a reset. A fatal alert has already dropped it when the session was at fault.
  SSL_set_shutdown(ssl_.get(), SSL_get_shutdown(ssl_.get()) | SSL_SENT_SHUTDOWN);
}

Result<std::unique_ptr<TlsSession>> TlsSession::Create(std::shared_ptr<TlsContext> context, std::string peer_key) {
  if (!context) return MakeError("TLS session needs a context", EINVAL);
  std::unique_ptr<TlsSession> session(new TlsSession(std::move(context), std::move(peer_key)));
  FERRY_TRY(session->Init());
  return session;
}

Result<void> TlsSession::Init() {
  ClearOpenSslErrors();
  ssl_.reset(SSL_new(context_->native()));
  if (!ssl_) return OpenSslError("SSL_new");
  SSL_set_app_data(ssl_.get(), static_cast<TlsSessionEvents*>(this));
  network_in_ = NewByteQueueBio();
  network_out_ = NewByteQueueBio();
  if (network_in_ == nullptr || network_out_ == nullptr) {
    BIO_free(network_in_);
    BIO_free(network_out_);
    return OpenSslError("BIO_new(byte queue)");
  }
  SSL_set_bio(ssl_.get(), network_in_, network_out_);
  if (context_->role() == TlsRole::kServer) {
    SSL_set_accept_state(ssl_.get());
    return Ok();
  }
  SSL_set_connect_state(ssl_.get());
  if (!peer_key_.empty()) {
    SslSessionPtr cached = context_->session_cache().Take(peer_key_);
    if (cached && SSL_set_session(ssl_.get(), cached.get()) != 1) return OpenSslError("SSL_set_session");
  }
  return Ok();
}

Error TlsSession::Fail(const std::string& context) {
  state_ = TlsState::kFailed;
  Error error = OpenSslError(context);
  if (!peer_rejection_.empty()) {
    error.context = context + ": " + peer_rejection_;
    error.code = EACCES;
  }
  return error;
}

Result<void> TlsSession::FeedCiphertext(std::span<const uint8_t> bytes) {
  if (state_ == TlsState::kOffloaded || state_ == TlsState::kFailed) {
    return MakeError(std::string("feed ciphertext in state ") + std::string(TlsStateName(state_)), EINVAL);
  }
  while (!bytes.empty()) {
    int chunk = static_cast<int>(std::min<size_t>(bytes.size(), INT_MAX));
    int written = BIO_write(network_in_, bytes.data(), chunk);
    if (written <= 0) return OpenSslError("buffer received ciphertext");
    bytes = bytes.subspan(static_cast<size_t>(written));
  }
  return Ok();
}

size_t TlsSession::PendingCiphertext() const { return BIO_ctrl_pending(network_out_); }

void TlsSession::AppendCiphertext(std::vector<uint8_t>* out) {
  ByteQueue* queue = QueueOf(network_out_);
  if (queue->pending() == 0) return;
  out->insert(out->end(), queue->bytes.begin() + static_cast<std::ptrdiff_t>(queue->head), queue->bytes.end());
  queue->Consume(queue->pending());
}

std::vector<uint8_t> TlsSession::TakeCiphertext() {
  std::vector<uint8_t> bytes;
  AppendCiphertext(&bytes);
  return bytes;
}

Result<bool> TlsSession::Handshake() {
  if (state_ != TlsState::kHandshaking) {
    if (state_ == TlsState::kEstablished) return true;
    return MakeError(std::string("handshake in state ") + std::string(TlsStateName(state_)), EINVAL);
  }
  ClearOpenSslErrors();
  int rc = SSL_do_handshake(ssl_.get());
  if (rc == 1) {
    state_ = TlsState::kEstablished;
    return true;
  }
  if (SSL_get_error(ssl_.get(), rc) == SSL_ERROR_WANT_READ) return false;
  return Fail("TLS handshake");
}

Result<void> TlsSession::Write(std::span<const uint8_t> plaintext) {
  // Writing after the peer's close_notify is a legal half-close (the other direction stays open).
  if (state_ != TlsState::kEstablished && state_ != TlsState::kPeerClosed) {
    return MakeError(std::string("write in state ") + std::string(TlsStateName(state_)), EPIPE);
  }
  ClearOpenSslErrors();
  while (!plaintext.empty()) {
    size_t written = 0;
    int rc = SSL_write_ex(ssl_.get(), plaintext.data(), plaintext.size(), &written);
    if (rc != 1) return Fail("TLS write");
    plaintext = plaintext.subspan(written);
  }
  return Ok();
}

Result<TlsReadResult> TlsSession::Read(std::span<uint8_t> out) {
  if (state_ == TlsState::kPeerClosed || state_ == TlsState::kClosed) return TlsReadResult{0, false, true};
  if (state_ != TlsState::kEstablished && state_ != TlsState::kShutdownSent) {
    return MakeError(std::string("read in state ") + std::string(TlsStateName(state_)), EINVAL);
  }
  if (out.empty()) return MakeError("read into an empty buffer", EINVAL);
  ClearOpenSslErrors();
  size_t n = 0;
  int rc = SSL_read_ex(ssl_.get(), out.data(), out.size(), &n);
  if (rc == 1) return TlsReadResult{n, false, false};
  switch (SSL_get_error(ssl_.get(), rc)) {
    case SSL_ERROR_WANT_READ:
      return TlsReadResult{0, true, false};
    case SSL_ERROR_ZERO_RETURN:
      state_ = state_ == TlsState::kShutdownSent ? TlsState::kClosed : TlsState::kPeerClosed;
      return TlsReadResult{0, false, true};
    default:
      return Fail("TLS read");
  }
}

Result<void> TlsSession::Shutdown() {
  switch (state_) {
    case TlsState::kShutdownSent:
    case TlsState::kClosed:
      return Ok();
    case TlsState::kEstablished:
    case TlsState::kPeerClosed:
      break;
    default:
      return MakeError(std::string("shutdown in state ") + std::string(TlsStateName(state_)), EINVAL);
  }
  ClearOpenSslErrors();
  int rc = SSL_shutdown(ssl_.get());
  if (rc < 0) return Fail("TLS shutdown");
  state_ = state_ == TlsState::kPeerClosed ? TlsState::kClosed : TlsState::kShutdownSent;
  return Ok();
}

std::optional<TlsCipher> TlsSession::cipher() const {
  const SSL_CIPHER* current = SSL_get_current_cipher(ssl_.get());
  if (current == nullptr) return std::nullopt;
  switch (SSL_CIPHER_get_protocol_id(current)) {
    case kTlsAes128GcmSha256: return TlsCipher::kAes128GcmSha256;
    case kTlsAes256GcmSha384: return TlsCipher::kAes256GcmSha384;
    default: return std::nullopt;
  }
}

bool TlsSession::resumed() const { return SSL_session_reused(ssl_.get()) == 1; }

X509* TlsSession::peer_certificate() const { return SSL_get0_peer_certificate(ssl_.get()); }

Result<TrafficSecrets> TlsSession::ExportTrafficSecrets() const {
  if (state_ != TlsState::kEstablished) {
    return MakeError(std::string("traffic secrets in state ") + std::string(TlsStateName(state_)), EINVAL);
  }
  if (records_.key_updated()) return MakeError("a KeyUpdate replaced the traffic secrets", ENOTSUP);
  auto negotiated = cipher();
  if (!negotiated) return MakeError("negotiated cipher is not AES-GCM", ENOTSUP);
  if (client_traffic_secret_.empty() || server_traffic_secret_.empty()) {
    return MakeError("application traffic secrets were not captured", ENODATA);
  }
  // Records OpenSSL has read (partly or wholly) but not handed out would be lost to the kernel.
  if (BIO_ctrl_pending(network_in_) > 0 || SSL_has_pending(ssl_.get()) == 1) {
    return MakeError("received ciphertext not yet read through TLS", EAGAIN);
  }
  bool client = context_->role() == TlsRole::kClient;
  TrafficSecrets secrets;
  secrets.cipher = *negotiated;
  secrets.tx = {client ? client_traffic_secret_ : server_traffic_secret_, records_.sent()};
  secrets.rx = {client ? server_traffic_secret_ : client_traffic_secret_, records_.received()};
  return secrets;
}

Result<TrafficSecrets> TlsSession::HandOffToKernel() {
  if (PendingCiphertext() > 0) return MakeError("send pending ciphertext before handing off to kTLS", EAGAIN);
  auto secrets = ExportTrafficSecrets();
  if (secrets) state_ = TlsState::kOffloaded;
  return secrets;
}

void TlsSession::OnKeylogLine(std::string_view line) {
  auto parsed = ParseKeylogLine(line);
  if (!parsed) return;
  if (parsed->kind == KeylogSecret::Kind::kClientTraffic0) {
    client_traffic_secret_ = parsed->secret;
  } else {
    server_traffic_secret_ = parsed->secret;
  }
}

void TlsSession::OnProtocolMessage(bool sent, int content_type, const uint8_t* bytes, size_t size) {
  if (content_type == SSL3_RT_HEADER) {
    records_.OnRecordHeader(sent);
  } else if (content_type == SSL3_RT_HANDSHAKE && size > 0) {
    records_.OnHandshakeMessage(sent, bytes[0]);
  }
}

void TlsSession::OnPeerRejected(std::string reason) { peer_rejection_ = std::move(reason); }

bool TlsSession::OnNewTicket(SSL_SESSION* session) {
  if (context_->role() != TlsRole::kClient || peer_key_.empty()) return false;
  // A copy, because OpenSSL marks the connection's current session not resumable when the
  // connection ends without close_notify (a reset), which would throw away a good ticket.
  SslSessionPtr copy(SSL_SESSION_dup(session));
  if (copy) context_->session_cache().Store(peer_key_, std::move(copy));
  return false;  // OpenSSL keeps (and frees) the original
}

}  // namespace ferry::tunnel
