// Keeps one workload certificate per (namespace, service account) of the pods enrolled on this
// node, and hands out the tunnel's TLS contexts for them.
//
// Keys are generated here (ECDSA P-256, a fresh one per issuance) and only CSRs leave the node.
// A background thread asks the CertificateSigner for new identities at once, renews at half life
// with jitter, retries failures with backoff (identity::PlanRenewal), and keeps serving a
// certificate until it expires while the CA is unreachable. Get() fails closed: it returns null
// for any identity without a certificate valid at this moment.
//
// The trust bundle follows the CA: each answer's bundle replaces the current one (two roots while
// a root rotates) and every identity's contexts are rebuilt against it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/certs/certificate_signer.h"
#include "agent/certs/workload_credentials.h"
#include "common/result.h"
#include "identity/clock.h"
#include "identity/peer_verifier.h"
#include "identity/renewal.h"
#include "identity/trust_bundle.h"

namespace ferry::certs {

struct IdentityStatus {
  WorkloadName workload;
  std::string spiffe_id;                                 // asked for (current trust domain)
  std::string serial_hex;                                // of the certificate served; "" if none
  std::optional<identity::CertificateLifetime> lifetime;  // of the certificate served
  bool serving = false;                                  // Get() returns credentials now
  int consecutive_failures = 0;
  std::string last_error;  // of the last failed attempt since the last success; "" if none
  identity::SystemTime next_attempt;
};

class IdentityManager {
 public:
  struct Options {
    std::string trust_domain;
    std::chrono::seconds requested_ttl{0};  // 0 = the controller's default
    identity::RenewalPolicy renewal;
    identity::WallClock clock = identity::SystemNow;
    identity::UniformRandom random;  // jitter source; default: randomly seeded
    int server_session_tickets = 1;  // tunnel resumption tickets per server handshake
  };

  // Starts the renewal thread. `signer` must outlive the manager.
  static Result<std::unique_ptr<IdentityManager>> Create(Options options, CertificateSigner& signer,
                                                         identity::TrustBundle initial_bundle);
  ~IdentityManager();  // stops and joins the thread (waits for an issuance in flight)
  IdentityManager(const IdentityManager&) = delete;
  IdentityManager& operator=(const IdentityManager&) = delete;

  // The identities the enrolled pods need: new ones are issued at once, absent ones dropped.
  void SetWanted(const std::set<WorkloadName>& wanted);
  // A new trust domain (from the policy snapshot): every identity is dropped and re-issued.
  Result<void> SetTrustDomain(const std::string& trust_domain);

  // Credentials valid now, or null (the caller refuses the connection). Thread-safe, cheap.
  std::shared_ptr<const WorkloadCredentials> Get(const std::string& ns, const std::string& service_account) const;
  // Blocks until Get() would return credentials or `deadline` passes; true when ready.
  bool WaitReady(const std::string& ns, const std::string& service_account,
                 std::chrono::steady_clock::time_point deadline) const;

  std::vector<IdentityStatus> Status() const;
  std::string trust_domain() const;
  // The roots currently trusted for tunnel peers (PEM).
  std::string TrustBundlePem() const;

 private:
  struct Entry;
  struct Attempt;

  IdentityManager(Options options, CertificateSigner& signer, identity::TrustBundle bundle,
                  std::string bundle_pem, std::shared_ptr<const identity::PeerVerifier> verifier);

  void Run();
  // Under mu_: entries whose next attempt is due.
  std::vector<std::shared_ptr<Entry>> DueEntries(identity::SystemTime now) const;
  std::optional<identity::SystemTime> NextAttemptTime() const;
  // Without mu_: key, CSR, signing, checks. Reads the trust domain it was given.
  Attempt Issue(const WorkloadName& name, const std::string& trust_domain);
  // Under mu_: records the outcome and plans the next attempt.
  void Apply(const std::shared_ptr<Entry>& entry, Attempt attempt, const std::string& trust_domain);
  Result<void> AdoptBundle(const std::string& bundle_pem);
  void RebuildAllCredentials();
  bool Serving(const Entry& entry, identity::SystemTime now) const;

  const Options options_;
  CertificateSigner& signer_;
  identity::UniformRandom random_;  // used on the renewal thread only

  mutable std::mutex mu_;
  mutable std::condition_variable wake_;     // renewal thread: work or stop
  mutable std::condition_variable changed_;  // WaitReady: credentials changed
  bool stopping_ = false;
  std::string trust_domain_;
  identity::TrustBundle bundle_;
  std::string bundle_pem_;
  std::shared_ptr<const identity::PeerVerifier> verifier_;
  std::map<WorkloadName, std::shared_ptr<Entry>> entries_;
  std::thread thread_;
};

}  // namespace ferry::certs
