#include "agent/certs/identity_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>

#include "identity/csr.h"
#include "identity/spiffe_id.h"

namespace ferry::certs {
namespace {

// The thread re-reads the clock at least this often, so wall-clock jumps (and injected clocks)
// are noticed without anyone waking it.
constexpr std::chrono::seconds kMaxSleep(1);

Result<std::shared_ptr<const identity::PeerVerifier>> MakeVerifier(const identity::TrustBundle& bundle,
                                                                   const std::string& trust_domain,
                                                                   const identity::WallClock& clock) {
  identity::PeerVerifierOptions options;
  options.trust_domain = trust_domain;
  options.clock = clock;
  auto verifier = identity::PeerVerifier::Create(bundle.Clone(), std::move(options));
  if (!verifier.ok()) return verifier.error();
  return std::make_shared<const identity::PeerVerifier>(std::move(verifier).value());
}

}  // namespace

struct IdentityManager::Entry {
  WorkloadName name;
  identity::RenewalState renewal;
  identity::SystemTime next_attempt;
  std::shared_ptr<const IssuedIdentity> issued;  // kept to rebuild contexts on a new bundle
  std::shared_ptr<const WorkloadCredentials> credentials;
  std::string last_error;
};

struct IdentityManager::Attempt {
  Result<IssuedIdentity> issued = MakeError("not attempted");
  std::string bundle_pem;  // the CA's trust bundle from the answer; "" = unchanged
};

Result<std::unique_ptr<IdentityManager>> IdentityManager::Create(Options options, CertificateSigner& signer,
                                                                 identity::TrustBundle initial_bundle) {
  FERRY_TRY(identity::ValidateTrustDomain(options.trust_domain));
  if (!options.clock) return MakeError("identity manager needs a clock", EINVAL);
  if (options.requested_ttl.count() < 0) return MakeError("requested certificate TTL is negative", EINVAL);
  if (!options.random) options.random = identity::MakeSystemUniformRandom();
  auto pem = initial_bundle.ToPem();
  if (!pem.ok()) return pem.error();
  auto verifier = MakeVerifier(initial_bundle, options.trust_domain, options.clock);
  if (!verifier.ok()) return verifier.error();
  std::unique_ptr<IdentityManager> manager(new IdentityManager(
      std::move(options), signer, std::move(initial_bundle), std::move(pem).value(), std::move(verifier).value()));
  manager->thread_ = std::thread([m = manager.get()] { m->Run(); });
  return manager;
}

IdentityManager::IdentityManager(Options options, CertificateSigner& signer, identity::TrustBundle bundle,
                                 std::string bundle_pem, std::shared_ptr<const identity::PeerVerifier> verifier)
    : options_(std::move(options)),
      signer_(signer),
      random_(options_.random),
      trust_domain_(options_.trust_domain),
      bundle_(std::move(bundle)),
      bundle_pem_(std::move(bundle_pem)),
      verifier_(std::move(verifier)) {}

IdentityManager::~IdentityManager() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void IdentityManager::SetWanted(const std::set<WorkloadName>& wanted) {
  std::lock_guard lock(mu_);
  const identity::SystemTime now = options_.clock();
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (wanted.count(it->first) == 0) {
      spdlog::info("workload identity {} no longer needed on this node; dropped", it->first.ToString());
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  for (const WorkloadName& name : wanted) {
    if (entries_.count(name) != 0) continue;
    auto entry = std::make_shared<Entry>();
    entry->name = name;
    entry->next_attempt = now;
    entries_.emplace(name, std::move(entry));
  }
  wake_.notify_all();
  changed_.notify_all();
}

Result<void> IdentityManager::SetTrustDomain(const std::string& trust_domain) {
  FERRY_TRY(identity::ValidateTrustDomain(trust_domain));
  std::lock_guard lock(mu_);
  if (trust_domain == trust_domain_) return Ok();
  auto verifier = MakeVerifier(bundle_, trust_domain, options_.clock);
  if (!verifier.ok()) return verifier.error();
  spdlog::warn("trust domain changes from {} to {}: re-issuing {} workload identities", trust_domain_, trust_domain,
               entries_.size());
  trust_domain_ = trust_domain;
  verifier_ = std::move(verifier).value();
  // Certificates of the old domain are refused by peers of the new one: stop serving them.
  const identity::SystemTime now = options_.clock();
  for (auto& [name, entry] : entries_) {
    entry->renewal = {};
    entry->issued.reset();
    entry->credentials.reset();
    entry->last_error.clear();
    entry->next_attempt = now;
  }
  wake_.notify_all();
  changed_.notify_all();
  return Ok();
}

bool IdentityManager::Serving(const Entry& entry, identity::SystemTime now) const {
  return entry.credentials != nullptr && now >= entry.credentials->not_before && now < entry.credentials->not_after;
}

std::shared_ptr<const WorkloadCredentials> IdentityManager::Get(const std::string& ns,
                                                                const std::string& service_account) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(WorkloadName{ns, service_account});
  if (it == entries_.end() || !Serving(*it->second, options_.clock())) return nullptr;
  return it->second->credentials;
}

bool IdentityManager::WaitReady(const std::string& ns, const std::string& service_account,
                                std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock lock(mu_);
  const WorkloadName name{ns, service_account};
  return changed_.wait_until(lock, deadline, [&] {
    auto it = entries_.find(name);
    return it != entries_.end() && Serving(*it->second, options_.clock());
  });
}

std::vector<IdentityStatus> IdentityManager::Status() const {
  std::lock_guard lock(mu_);
  const identity::SystemTime now = options_.clock();
  std::vector<IdentityStatus> out;
  for (const auto& [name, entry] : entries_) {
    IdentityStatus status;
    status.workload = name;
    auto id = identity::SpiffeId::Make(trust_domain_, name.ns, name.service_account);
    status.spiffe_id = id.ok() ? id->ToString() : "(invalid: " + id.error().Message() + ")";
    if (entry->credentials) {
      status.serial_hex = entry->credentials->serial_hex;
      status.lifetime = identity::CertificateLifetime{entry->credentials->not_before, entry->credentials->not_after};
    }
    status.serving = Serving(*entry, now);
    status.consecutive_failures = entry->renewal.consecutive_failures;
    status.last_error = entry->last_error;
    status.next_attempt = entry->next_attempt;
    out.push_back(std::move(status));
  }
  return out;
}

std::string IdentityManager::trust_domain() const {
  std::lock_guard lock(mu_);
  return trust_domain_;
}

std::string IdentityManager::TrustBundlePem() const {
  std::lock_guard lock(mu_);
  return bundle_pem_;
}

std::vector<std::shared_ptr<IdentityManager::Entry>> IdentityManager::DueEntries(identity::SystemTime now) const {
  std::vector<std::shared_ptr<Entry>> due;
  for (const auto& [name, entry] : entries_) {
    if (entry->next_attempt <= now) due.push_back(entry);
  }
  return due;
}

std::optional<identity::SystemTime> IdentityManager::NextAttemptTime() const {
  std::optional<identity::SystemTime> next;
  for (const auto& [name, entry] : entries_) {
    if (!next || entry->next_attempt < *next) next = entry->next_attempt;
  }
  return next;
}

void IdentityManager::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const identity::SystemTime now = options_.clock();
    std::vector<std::shared_ptr<Entry>> due = DueEntries(now);
    if (due.empty()) {
      std::optional<identity::SystemTime> next = NextAttemptTime();
      auto sleep = next ? std::chrono::duration_cast<std::chrono::milliseconds>(*next - now) : kMaxSleep;
      sleep = std::clamp<std::chrono::milliseconds>(sleep, std::chrono::milliseconds(1), kMaxSleep);
      wake_.wait_for(lock, sleep);
      continue;
    }
    for (const auto& entry : due) {
      auto it = entries_.find(entry->name);
      if (stopping_) break;
      if (it == entries_.end() || it->second != entry) continue;  // dropped while we worked
      const WorkloadName name = entry->name;
      const std::string trust_domain = trust_domain_;
      lock.unlock();
      Attempt attempt = Issue(name, trust_domain);
      lock.lock();
      Apply(entry, std::move(attempt), trust_domain);
    }
  }
}

IdentityManager::Attempt IdentityManager::Issue(const WorkloadName& name, const std::string& trust_domain) {
  auto id = identity::SpiffeId::Make(trust_domain, name.ns, name.service_account);
  if (!id.ok()) return Attempt{id.error(), ""};
  auto key = identity::WorkloadKey::Generate();
  if (!key.ok()) return Attempt{key.error(), ""};
  auto csr = key->CreateCsrPem(id.value());
  if (!csr.ok()) return Attempt{csr.error(), ""};
  auto answer = signer_.Sign(csr.value(), options_.requested_ttl);
  if (!answer.ok()) return Attempt{answer.error(), ""};
  // Check the leaf against the roots that came with it: during a root rotation the new leaf may
  // chain only to a root this node has not seen yet.
  std::string bundle_pem = answer->trust_bundle_pem;
  Result<identity::TrustBundle> bundle =
      bundle_pem.empty() ? identity::TrustBundle::FromPem(TrustBundlePem()) : identity::TrustBundle::FromPem(bundle_pem);
  if (!bundle.ok()) return Attempt{MakeError("trust bundle from the CA: " + bundle.error().Message(), EPROTO), ""};
  auto verifier = MakeVerifier(bundle.value(), trust_domain, options_.clock);
  if (!verifier.ok()) return Attempt{verifier.error(), ""};
  return Attempt{AcceptSignedCertificate(std::move(key).value(), id.value(), answer.value(), *verifier.value()),
                 std::move(bundle_pem)};
}

void IdentityManager::Apply(const std::shared_ptr<Entry>& entry, Attempt attempt, const std::string& trust_domain) {
  auto it = entries_.find(entry->name);
  // Dropped, replaced, or asked for under a trust domain that is no longer ours: discard.
  if (it == entries_.end() || it->second != entry || trust_domain != trust_domain_) return;
  const identity::SystemTime now = options_.clock();
  Result<std::shared_ptr<const WorkloadCredentials>> credentials = MakeError("not built");
  if (attempt.issued.ok()) {
    if (!attempt.bundle_pem.empty() && attempt.bundle_pem != bundle_pem_) {
      if (auto adopted = AdoptBundle(attempt.bundle_pem); !adopted.ok()) {
        attempt.issued = adopted.error();
      }
    }
  }
  if (attempt.issued.ok()) {
    credentials = BuildWorkloadCredentials(attempt.issued.value(), verifier_, options_.server_session_tickets);
    if (!credentials.ok()) attempt.issued = credentials.error();
  }
  identity::LastAttempt last;
  if (attempt.issued.ok()) {
    last = identity::LastAttempt{identity::LastAttempt::Kind::kIssued, attempt.issued->lifetime};
    spdlog::info("workload identity {} issued: serial {}, valid for {} s", attempt.issued->id.ToString(),
                 attempt.issued->serial_hex,
                 std::chrono::duration_cast<std::chrono::seconds>(attempt.issued->lifetime.not_after - now).count());
    entry->issued = std::make_shared<const IssuedIdentity>(std::move(attempt.issued).value());
    entry->credentials = std::move(credentials).value();
    entry->last_error.clear();
  } else {
    last.kind = identity::LastAttempt::Kind::kFailed;
    entry->last_error = attempt.issued.error().Message();
  }
  identity::RenewalDecision decision = identity::PlanRenewal(entry->renewal, now, last, options_.renewal, random_);
  entry->renewal = decision.state;
  entry->next_attempt = decision.at;
  if (last.kind == identity::LastAttempt::Kind::kIssued && decision.action == identity::RenewalAction::kRequestNow) {
    // A certificate too short for the renewal margin would otherwise be re-requested in a loop.
    entry->next_attempt = now + options_.renewal.initial_backoff;
  }
  if (last.kind == identity::LastAttempt::Kind::kFailed) {
    spdlog::warn("workload identity {}: {} ({})", entry->name.ToString(), entry->last_error, decision.reason);
    if (!decision.serve_current) {
      entry->issued.reset();
      entry->credentials.reset();
    }
  }
  changed_.notify_all();
}

Result<void> IdentityManager::AdoptBundle(const std::string& bundle_pem) {
  auto bundle = identity::TrustBundle::FromPem(bundle_pem);
  if (!bundle.ok()) return bundle.error();
  auto verifier = MakeVerifier(bundle.value(), trust_domain_, options_.clock);
  if (!verifier.ok()) return verifier.error();
  spdlog::info("trust bundle from the CA changed: now {} root(s)", bundle->roots().size());
  bundle_ = std::move(bundle).value();
  bundle_pem_ = bundle_pem;
  verifier_ = std::move(verifier).value();
  RebuildAllCredentials();
  return Ok();
}

void IdentityManager::RebuildAllCredentials() {
  const identity::SystemTime now = options_.clock();
  for (auto& [name, entry] : entries_) {
    if (!entry->issued) continue;
    auto rebuilt = BuildWorkloadCredentials(*entry->issued, verifier_, options_.server_session_tickets);
    if (!rebuilt.ok()) {
      spdlog::warn("workload identity {}: contexts for the new trust bundle: {}", name.ToString(),
                   rebuilt.error().Message());
      entry->next_attempt = now;
      continue;
    }
    entry->credentials = std::move(rebuilt).value();
    // A certificate under a root that left the bundle is refused by up-to-date peers: renew it.
    if (auto verified = VerifyIssuedIdentity(*entry->issued, *verifier_); !verified.ok()) {
      spdlog::warn("workload identity {} fails against the new trust bundle ({}); renewing now", name.ToString(),
                   verified.error().Message());
      entry->next_attempt = now;
    }
  }
}

}  // namespace ferry::certs
