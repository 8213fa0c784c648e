#include "agent/tunnel/tunnel_leg_base.h"

#include <openssl/x509v3.h>

#include <cerrno>
#include <cstddef>
#include <memory>
#include <span>

#include "agent/tunnel/ktls.h"
#include "agent/tunnel/ktls_reader.h"
#include "agent/tunnel/tunnel_leg.h"

namespace ferry::tunnel::internal {
namespace {

using proxy::KernelRecordResult;
using proxy::LegProgress;
using proxy::LegSetupState;

constexpr size_t kReadChunk = 16 * 1024;  // one TLS record's worth of plaintext

// One record's worth of plaintext per thread (a proxy worker drives all its legs from one
// thread), allocated on first use and never initialised: SSL_read only writes into it.
std::span<uint8_t> ReadScratch() {
  thread_local std::unique_ptr<uint8_t[]> scratch;
  if (!scratch) scratch = std::make_unique_for_overwrite<uint8_t[]>(kReadChunk);
  return {scratch.get(), kReadChunk};
}

struct GeneralNamesDeleter {
  void operator()(GENERAL_NAMES* names) const { GENERAL_NAMES_free(names); }
};

}  // namespace

Result<std::string> PeerSpiffeId(X509* certificate) {
  if (certificate == nullptr) return MakeError("peer presented no certificate", EACCES);
  std::unique_ptr<GENERAL_NAMES, GeneralNamesDeleter> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr)));
  std::string uri;
  int uri_count = 0;
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != GEN_URI) continue;
    ++uri_count;
    const ASN1_IA5STRING* value = name->d.uniformResourceIdentifier;
    uri.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)), static_cast<size_t>(ASN1_STRING_length(value)));
  }
  // A SPIFFE SVID carries exactly one URI SAN; two would make "the" identity ambiguous.
  if (uri_count != 1) return MakeError("peer certificate must carry exactly one URI SAN", EACCES);
  if (uri.rfind("spiffe://", 0) != 0) return MakeError("peer URI SAN is not a SPIFFE ID", EACCES);
  return uri;
}

TunnelLegBase::TunnelLegBase(std::shared_ptr<TlsContext> context, std::string peer_key, bool allow_ktls)
    : context_(std::move(context)), peer_key_(std::move(peer_key)), allow_ktls_(allow_ktls) {}

Result<void> TunnelLegBase::CreateSession() {
  if (session_) return MakeError("tunnel leg started twice", EINVAL);
  auto session = TlsSession::Create(context_, peer_key_);
  if (!session) return session.error();
  session_ = std::move(*session);
  return Ok();
}

void TunnelLegBase::AppendCiphertext(std::vector<uint8_t>* out) { session_->AppendCiphertext(out); }

Result<bool> TunnelLegBase::DrainPlaintext(std::vector<uint8_t>* plaintext) {
  // SSL_read goes to this thread's scratch, and only the bytes read are appended: growing
  // *plaintext by a chunk per attempt would zero-fill 16 KiB each time (vector::resize) and
  // leave the caller's buffer with a record's worth of spare capacity.
  std::span<uint8_t> scratch = ReadScratch();
  for (;;) {
    auto read = session_->Read(scratch);
    if (!read) return read.error();
    plaintext->insert(plaintext->end(), scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(read->bytes));
    if (read->peer_closed) return true;
    if (read->need_more) return false;
  }
}

LegProgress TunnelLegBase::Fail(std::string reason, std::vector<uint8_t>* out) {
  if (session_ && out != nullptr) AppendCiphertext(out);
  failed_ = true;
  return {LegSetupState::kFailed, std::move(reason)};
}

LegProgress TunnelLegBase::Abandon(std::string reason) {
  if (session_) (void)session_->TakeCiphertext();
  failed_ = true;
  return {LegSetupState::kFailed, std::move(reason)};
}

LegProgress TunnelLegBase::Ready() {
  mode_ = Mode::kUserSpace;
  return {LegSetupState::kReady, {}};
}

void TunnelLegBase::AddEarlyPlaintext(std::span<const uint8_t> bytes) {
  early_plaintext_.insert(early_plaintext_.end(), bytes.begin(), bytes.end());
}

std::vector<uint8_t> TunnelLegBase::TakeEarlyPlaintext() { return std::exchange(early_plaintext_, {}); }

Result<bool> TunnelLegBase::OffloadToKernel(int fd) {
  if (mode_ != Mode::kUserSpace || failed_) return MakeError("kTLS offload outside the data phase", EINVAL);
  if (offload_tried_) return MakeError("kTLS offload asked twice", EINVAL);
  offload_tried_ = true;
  if (!allow_ktls_ || !KernelTlsUsable()) return false;
  // Unsent records or ciphertext OpenSSL has not fully read would be lost to the kernel: such a
  // connection simply stays in user space.
  if (session_->PendingCiphertext() > 0) return false;
  return InstallKernelKeys(fd);
}

Result<bool> TunnelLegBase::InstallKernelKeys(int fd) {
  auto secrets = session_->ExportTrafficSecrets();
  if (!secrets) return false;
  // Nothing is installed if TX fails (the socket stays plain TCP, even with the ULP attached), so
  // user space can carry on. Once TX is in, the kernel owns our sequence numbers: no way back.
  auto tx = InstallKtls(fd, KtlsDirection::kTx, secrets->cipher, secrets->tx.secret.span(), secrets->tx.records);
  if (!tx) return false;
  auto rx = InstallKtls(fd, KtlsDirection::kRx, secrets->cipher, secrets->rx.secret.span(), secrets->rx.records);
  if (!rx) {
    failed_ = true;
    return MakeError("kTLS receive keys refused after transmit keys were installed: " + rx.error().Message(),
                     rx.error().code);
  }
  auto handed_off = session_->HandOffToKernel();
  if (!handed_off) {
    failed_ = true;
    return handed_off.error();
  }
  mode_ = Mode::kKernel;
  return true;
}

Result<void> TunnelLegBase::Protect(std::span<const uint8_t> plaintext, std::vector<uint8_t>* out) {
  if (mode_ != Mode::kUserSpace || failed_) return MakeError("Protect outside the user-space data phase", EINVAL);
  auto written = session_->Write(plaintext);
  AppendCiphertext(out);
  if (!written) failed_ = true;
  return written;
}

Result<proxy::LegUnprotectResult> TunnelLegBase::Unprotect(std::span<const uint8_t> in,
                                                           std::vector<uint8_t>* plaintext,
                                                           std::vector<uint8_t>* out) {
  if (mode_ != Mode::kUserSpace || failed_) return MakeError("Unprotect outside the user-space data phase", EINVAL);
  auto fed = session_->FeedCiphertext(in);
  if (!fed) return fed.error();
  auto closed = DrainPlaintext(plaintext);
  AppendCiphertext(out);  // e.g. an alert OpenSSL queued on a bad record
  if (!closed) {
    failed_ = true;
    return closed.error();
  }
  return proxy::LegUnprotectResult{*closed};
}

Result<KernelRecordResult> TunnelLegBase::ReadKernelRecord(int fd, std::span<uint8_t> buffer) {
  if (mode_ != Mode::kKernel) return MakeError("ReadKernelRecord without kTLS", EINVAL);
  auto record = ReadKtlsRecord(fd, buffer);
  if (!record) return record.error();
  switch (record->kind) {
    case KtlsRecordKind::kData:
      return KernelRecordResult{KernelRecordResult::Kind::kData, record->bytes};
    case KtlsRecordKind::kSessionTicket:
      return KernelRecordResult{KernelRecordResult::Kind::kSkipped, 0};
    case KtlsRecordKind::kCloseNotify:
      return KernelRecordResult{KernelRecordResult::Kind::kPeerClosed, 0};
    case KtlsRecordKind::kEndOfStream:
      return MakeError("peer closed TCP without close_notify (possible truncation)", ECONNABORTED);
    case KtlsRecordKind::kAlert:
      return MakeError("peer sent TLS alert " + std::to_string(record->alert_description), ECONNRESET);
    case KtlsRecordKind::kKeyUpdate:
      // The 6.1 kernel cannot switch receive keys: the stream cannot be followed past this record.
      return MakeError("peer sent a TLS KeyUpdate, which kTLS cannot follow", ENOTSUP);
    case KtlsRecordKind::kHandshake:
      return MakeError("unexpected post-handshake message " + std::to_string(record->handshake_type), EPROTO);
  }
  return MakeError("unknown kTLS record kind", EPROTO);
}

Result<void> TunnelLegBase::Finish(int fd, std::vector<uint8_t>* out) {
  if (mode_ == Mode::kKernel) {
    if (finished_) return Ok();
    finished_ = true;
    return SendKtlsCloseNotify(fd);
  }
  if (mode_ != Mode::kUserSpace) return MakeError("Finish before setup completed", EINVAL);
  auto shut = session_->Shutdown();
  AppendCiphertext(out);
  return shut;
}

std::string_view TunnelLegBase::mode() const {
  switch (mode_) {
    case Mode::kSetup: return "setup";
    case Mode::kUserSpace: return "userspace";
    case Mode::kKernel: return "ktls";
  }
  return "setup";
}

bool TunnelLegBase::resumed() const { return session_ != nullptr && session_->resumed(); }

}  // namespace ferry::tunnel::internal
