// FakeXorLeg: a test double of SecureLeg with a trivial protocol, so the engine's leg handling
// is tested with real sockets but without TLS.
//   setup    initiator sends "HELLO <ip:port>\n"; acceptor answers "OK\n" or "NO <status> <why>\n".
//   records  [type][length u16 big-endian][payload XOR 0x5a]; type 'D' data, 'C' close_notify,
//            'K' asks the receiver to answer 'k' (stands in for a TLS key update).
//   kernel   the kernel-mode variant's OffloadToKernel returns true and bytes pass unchanged (a
//            fake cannot make a socket fail with EIO, so ReadKernelRecord is never reached).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "agent/proxy/secure_leg.h"
#include "loopback.h"

namespace ferry::proxy::testing {

inline constexpr uint8_t kXorKey = 0x5a;

inline std::string EncodeRecord(char type, std::string_view payload) {
  std::string record;
  record.push_back(type);
  record.push_back(static_cast<char>(payload.size() >> 8));
  record.push_back(static_cast<char>(payload.size() & 0xff));
  for (char c : payload) record.push_back(static_cast<char>(c ^ kXorKey));
  return record;
}

// Blocking read of one record from a raw test peer's socket; false on EOF or error.
inline bool ReadRecord(int fd, char* type, std::string* payload) {
  uint8_t header[3];
  if (!ReadExactly(fd, header, sizeof(header))) return false;
  *type = static_cast<char>(header[0]);
  payload->assign((size_t{header[1]} << 8) | header[2], '\0');
  if (!payload->empty() && !ReadExactly(fd, payload->data(), payload->size())) return false;
  for (char& c : *payload) c = static_cast<char>(c ^ kXorKey);
  return true;
}

// What the test can see of legs the engine has already destroyed.
struct FakeLegObserver {
  std::mutex mutex;
  std::vector<std::string> failures;  // kFailed reasons (e.g. the acceptor's "NO ..." line)
  std::atomic<int> finishes{0};
  std::atomic<int> key_updates_answered{0};

  void Fail(std::string reason) {
    std::lock_guard lock(mutex);
    failures.push_back(std::move(reason));
  }
  std::vector<std::string> Failures() {
    std::lock_guard lock(mutex);
    return failures;
  }
};

struct FakeLegOptions {
  bool kernel_mode = false;
  std::string early_data;  // initiator: sent right after HELLO, before the answer
  bool resumed = false;    // what resumed() reports once set up
};

class FakeXorLeg : public SecureLeg {
 public:
  enum class Role { kInitiator, kAcceptor };

  FakeXorLeg(Role role, Ipv4Endpoint target, FakeLegOptions options,
             std::shared_ptr<FakeLegObserver> observer)
      : role_(role), target_(target), options_(std::move(options)), observer_(std::move(observer)) {}

  LegProgress Start(std::vector<uint8_t>* out) override {
    if (role_ == Role::kInitiator) {
      Append(out, "HELLO " + target_.ToString() + "\n");
      if (!options_.early_data.empty()) {
        Append(out, options_.kernel_mode ? options_.early_data : EncodeRecord('D', options_.early_data));
      }
    }
    return {};
  }

  LegProgress OnSetupBytes(std::span<const uint8_t> in, std::vector<uint8_t>* out) override {
    size_t used = 0;
    while (used < in.size() && !line_done_) {
      char c = static_cast<char>(in[used++]);
      if (c == '\n') {
        line_done_ = true;
      } else {
        line_ += c;
      }
    }
    rx_.insert(rx_.end(), in.begin() + static_cast<std::ptrdiff_t>(used), in.end());
    bool bad_start = role_ == Role::kAcceptor && line_.size() >= 6 && line_.compare(0, 6, "HELLO ") != 0;
    if (bad_start || line_.size() > 200) return Failed(out, "bad request");
    if (!line_done_) return {};
    if (role_ == Role::kAcceptor) {
      auto target = ParseIpv4Endpoint(std::string_view(line_).substr(6));
      if (!target) return Failed(out, "bad target");
      request_.target = *target;
      request_.peer_identity = "spiffe://test/fake-initiator";
      return {LegSetupState::kNeedDecision, ""};
    }
    if (line_ == "OK") return {LegSetupState::kReady, ""};
    return Failed(nullptr, line_);
  }

  const LegRequest& request() const override { return request_; }

  LegProgress Accept(std::vector<uint8_t>* out) override {
    Append(out, "OK\n");
    return {LegSetupState::kReady, ""};
  }

  LegProgress Refuse(LegRefusal refusal, std::string_view reason, std::vector<uint8_t>* out) override {
    std::string status = refusal == LegRefusal::kForbidden ? "403" : "503";
    Append(out, "NO " + status + " " + std::string(reason) + "\n");
    observer_->Fail("refused " + status);
    return {LegSetupState::kFailed, std::string(reason)};
  }

  std::vector<uint8_t> TakeEarlyPlaintext() override {
    std::vector<uint8_t> plain;
    if (options_.kernel_mode) {
      plain.swap(rx_);
    } else {
      std::vector<uint8_t> ignored;
      (void)Unprotect({}, &plain, &ignored);  // decodes whole records already in rx_
    }
    return plain;
  }

  Result<bool> OffloadToKernel(int /*fd*/) override {
    mode_ = options_.kernel_mode ? "ktls" : "userspace";
    return options_.kernel_mode;
  }

  Result<void> Protect(std::span<const uint8_t> plaintext, std::vector<uint8_t>* out) override {
    for (size_t at = 0; at < plaintext.size(); at += 65535) {
      size_t n = std::min<size_t>(65535, plaintext.size() - at);
      Append(out, EncodeRecord('D', {reinterpret_cast<const char*>(plaintext.data() + at), n}));
    }
    return Ok();
  }

  Result<LegUnprotectResult> Unprotect(std::span<const uint8_t> in, std::vector<uint8_t>* plaintext,
                                       std::vector<uint8_t>* out) override {
    rx_.insert(rx_.end(), in.begin(), in.end());
    LegUnprotectResult result;
    size_t at = 0;
    while (!closed_ && rx_.size() - at >= 3) {
      char type = static_cast<char>(rx_[at]);
      size_t length = (size_t{rx_[at + 1]} << 8) | rx_[at + 2];
      if (rx_.size() - at - 3 < length) break;
      const uint8_t* payload = rx_.data() + at + 3;
      at += 3 + length;
      if (type == 'D') {
        for (size_t i = 0; i < length; ++i) plaintext->push_back(payload[i] ^ kXorKey);
      } else if (type == 'C') {
        closed_ = true;
      } else if (type == 'K') {
        Append(out, EncodeRecord('k', ""));
        observer_->key_updates_answered.fetch_add(1);
      } else if (type != 'k') {
        return MakeError("fake leg: unknown record type");
      }
    }
    rx_.erase(rx_.begin(), rx_.begin() + static_cast<std::ptrdiff_t>(at));
    result.peer_closed = closed_;
    return result;
  }

  Result<KernelRecordResult> ReadKernelRecord(int /*fd*/, std::span<uint8_t> /*buffer*/) override {
    return MakeError("fake leg: no kernel records");
  }

  Result<void> Finish(int /*fd*/, std::vector<uint8_t>* out) override {
    observer_->finishes.fetch_add(1);
    if (out != nullptr) Append(out, EncodeRecord('C', ""));
    return Ok();
  }

  std::string_view mode() const override { return mode_; }
  bool resumed() const override { return options_.resumed; }

 private:
  static void Append(std::vector<uint8_t>* out, std::string_view bytes) {
    out->insert(out->end(), bytes.begin(), bytes.end());
  }
  LegProgress Failed(std::vector<uint8_t>* out, std::string reason) {
    if (out != nullptr) Append(out, "NO 400 " + reason + "\n");
    observer_->Fail(reason);
    return {LegSetupState::kFailed, std::move(reason)};
  }

  Role role_;
  Ipv4Endpoint target_;
  FakeLegOptions options_;
  std::shared_ptr<FakeLegObserver> observer_;
  std::string line_;
  bool line_done_ = false;
  bool closed_ = false;
  std::vector<uint8_t> rx_;  // bytes past the setup line, not yet decoded
  LegRequest request_;
  std::string_view mode_ = "setup";
};

}  // namespace ferry::proxy::testing
