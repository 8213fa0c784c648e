// A protocol spoken on one socket of a relayed connection, around the relayed bytes: for Ferry,
// the mTLS tunnel (TLS 1.3 + the CONNECT preface on port 15008). The engine owns every syscall,
// buffer and timer; a leg only turns received bytes into bytes to send and plaintext, so the
// engine knows nothing of TLS and a leg is testable without sockets.
//
// Life of a leg:
//   setup    Start(), then OnSetupBytes() for every receive, until kReady (or kFailed).
//            An acceptor stops at kNeedDecision once the peer's request is complete: the engine
//            asks ConnectionHandler::OnLegRequest(), connects the upstream it gets, then calls
//            Respond() (allowed or not) and goes on.
//   data     OffloadToKernel(fd) once: true = the kernel now does the record layer (kTLS), and
//            plaintext moves through the socket directly; a receive that fails with EIO means a
//            non-data record is next: ReadKernelRecord(). false = user space: every received
//            byte goes through Unprotect(), every byte to send through Protect().
//   finish   Finish() when the other side of the relay reached EOF (close_notify), before the
//            engine half-closes the socket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/ipv4.h"
#include "common/result.h"

namespace ferry::proxy {

enum class LegSetupState {
  kContinue,      // send `out` (if any), keep receiving and feeding
  kNeedDecision,  // acceptor only: request() is complete; ask the handler (send `out` first)
  kReady,         // setup done: TakeEarlyPlaintext(), then OffloadToKernel(), then relay
  kFailed,        // send `out` (an alert or an error response) if possible, then reset
};

struct LegProgress {
  LegSetupState state = LegSetupState::kContinue;
  std::string reason;  // kFailed: why, for logs and counters
};

// What an acceptor's peer asked for, once kNeedDecision was reached.
struct LegRequest {
  Ipv4Endpoint target;        // the CONNECT target
  std::string peer_identity;  // verified from the peer's certificate (SPIFFE URI), never a header
};

// How a refused request is answered (the tunnel's CONNECT status).
enum class LegRefusal {
  kForbidden,    // policy or target validation (403)
  kUnavailable,  // the destination could not be reached (503)
};

struct LegUnprotectResult {
  bool peer_closed = false;  // the peer finished sending (close_notify): treat as EOF
};

struct KernelRecordResult {
  enum class Kind {
    kData,        // `bytes` of plaintext were read into the buffer
    kSkipped,     // a harmless record was consumed (e.g. a session ticket): receive again
    kPeerClosed,  // close_notify: EOF
  } kind = Kind::kSkipped;
  size_t bytes = 0;
};

class SecureLeg {
 public:
  virtual ~SecureLeg() = default;

  // ---- setup ----
  // Initiator: called once the TCP connect completed. Acceptor: called once after accept.
  // Bytes to send are appended to *out.
  virtual LegProgress Start(std::vector<uint8_t>* out) = 0;
  // Bytes received during setup. An EOF during setup is a failure the engine handles itself.
  virtual LegProgress OnSetupBytes(std::span<const uint8_t> in, std::vector<uint8_t>* out) = 0;
  // Acceptor, after kNeedDecision. Valid until Respond().
  virtual const LegRequest& request() const = 0;
  // Acceptor: the upstream is connected (allowed) → appends the success response, kReady.
  virtual LegProgress Accept(std::vector<uint8_t>* out) = 0;
  // Acceptor: refused → appends the error response carrying `reason`; the engine sends it and
  // closes. Returns kFailed.
  virtual LegProgress Refuse(LegRefusal refusal, std::string_view reason,
                             std::vector<uint8_t>* out) = 0;
  // Plaintext the peer sent past the end of setup (after the preface), to relay first.
  virtual std::vector<uint8_t> TakeEarlyPlaintext() = 0;

  // ---- data phase ----
  // Once, at kReady, after `out` from setup has been fully sent. True: the kernel owns the record
  // layer of `fd` from now on. False: user space (Protect/Unprotect). An error (e.g. TX installed
  // but RX refused) leaves the socket unusable: reset the connection.
  virtual Result<bool> OffloadToKernel(int fd) = 0;
  // User space: encrypts `plaintext` and appends the records to *out.
  virtual Result<void> Protect(std::span<const uint8_t> plaintext, std::vector<uint8_t>* out) = 0;
  // User space: consumes received bytes; appends decrypted bytes to *plaintext and anything the
  // protocol must answer to *out. An error is fatal for the connection.
  virtual Result<LegUnprotectResult> Unprotect(std::span<const uint8_t> in,
                                               std::vector<uint8_t>* plaintext,
                                               std::vector<uint8_t>* out) = 0;
  // Kernel mode: a plain receive on `fd` failed with EIO. Reads the next record whole (blocking
  // is not expected: the record is already queued). An error is fatal for the connection.
  virtual Result<KernelRecordResult> ReadKernelRecord(int fd, std::span<uint8_t> buffer) = 0;
  // We will send no more: user space appends close_notify to *out; kernel mode sends it on `fd`
  // itself (out untouched). The engine then half-closes the socket.
  virtual Result<void> Finish(int fd, std::vector<uint8_t>* out) = 0;

  // "setup", "ktls" or "userspace" (for reports and metrics).
  virtual std::string_view mode() const = 0;
  // True once setup completed on a resumed session (no certificate exchange, no signature).
  virtual bool resumed() const { return false; }
};

}  // namespace ferry::proxy
