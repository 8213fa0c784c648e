// IdentityManager against a real in-process CA (FakeCertificateSigner): issuance, the tunnel
// contexts it builds, renewal, fail-closed expiry while the CA is down, and enrollment changes.
#include "agent/certs/identity_manager.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <thread>

#include "agent/tunnel/tls_session.h"
#include "fake_certificate_signer.h"
#include "identity/pem.h"
#include "identity/x509_inspect.h"
#include "test_result.h"

namespace ferry::certs {
namespace {

using testing::FakeCertificateSigner;
using testing::MakeTestCa;
using namespace std::chrono_literals;

const WorkloadName kFrontend{"default", "frontend"};
const WorkloadName kApi{"default", "api"};

auto Deadline(std::chrono::seconds s = 30s) { return std::chrono::steady_clock::now() + s; }

identity::TrustBundle BundleOf(const identity::CertificateAuthority& ca) { return ca.trust_bundle().Clone(); }

IdentityManager::Options FastOptions(const std::string& trust_domain) {
  IdentityManager::Options options;
  options.trust_domain = trust_domain;
  options.renewal.initial_backoff = 200ms;
  options.renewal.max_backoff = 400ms;
  options.renewal.expiry_margin = 500ms;
  return options;
}

std::unique_ptr<IdentityManager> MakeManager(IdentityManager::Options options, FakeCertificateSigner& signer,
                                             identity::TrustBundle bundle) {
  auto manager = IdentityManager::Create(std::move(options), signer, std::move(bundle));
  EXPECT_OK(manager);
  return manager.ok() ? std::move(manager).value() : nullptr;
}

std::string UriOf(const std::shared_ptr<tunnel::TlsContext>& context) {
  X509* cert = SSL_CTX_get0_certificate(context->native());
  if (cert == nullptr) return "(no certificate)";
  auto uri = identity::CertificateUriSan(cert);
  return uri.ok() ? uri.value() : "(" + uri.error().Message() + ")";
}

std::string UriOf(X509* cert) {
  auto uri = identity::CertificateUriSan(cert);
  return uri.ok() ? uri.value() : "(" + uri.error().Message() + ")";
}

struct Handshake {
  Result<bool> client = false;
  Result<bool> server = false;
  std::unique_ptr<tunnel::TlsSession> client_session;
  std::unique_ptr<tunnel::TlsSession> server_session;
};

// Runs a full handshake between two sessions over memory, shuttling ciphertext both ways.
Handshake RunHandshake(std::shared_ptr<tunnel::TlsContext> client_ctx, std::shared_ptr<tunnel::TlsContext> server_ctx) {
  Handshake h;
  auto client = tunnel::TlsSession::Create(std::move(client_ctx));
  auto server = tunnel::TlsSession::Create(std::move(server_ctx));
  if (!client.ok() || !server.ok()) {
    h.client = MakeError("session setup failed");
    return h;
  }
  h.client_session = std::move(client).value();
  h.server_session = std::move(server).value();
  auto& c = *h.client_session;
  auto& s = *h.server_session;
  for (int round = 0; round < 10; ++round) {
    if (c.state() == tunnel::TlsState::kHandshaking) h.client = c.Handshake();
    auto to_server = c.TakeCiphertext();
    if (!to_server.empty()) (void)s.FeedCiphertext(to_server);
    if (s.state() == tunnel::TlsState::kHandshaking) h.server = s.Handshake();
    auto to_client = s.TakeCiphertext();
    if (!to_client.empty()) (void)c.FeedCiphertext(to_client);
    if (to_server.empty() && to_client.empty() && round > 0) break;
  }
  return h;
}

TEST(IdentityManager, IssuesEveryWantedIdentityWithItsSpiffeId) {
  FakeCertificateSigner signer(MakeTestCa("cluster.local"));
  auto manager = MakeManager(FastOptions("cluster.local"), signer, BundleOf(MakeTestCa("cluster.local")));
  ASSERT_NE(manager, nullptr);
  EXPECT_EQ(manager->Get("default", "frontend"), nullptr) << "nothing is served before issuance";

  manager->SetWanted({kFrontend, kApi});
  ASSERT_TRUE(manager->WaitReady("default", "frontend", Deadline()));
  ASSERT_TRUE(manager->WaitReady("default", "api", Deadline()));

  auto frontend = manager->Get("default", "frontend");
  ASSERT_NE(frontend, nullptr);
  EXPECT_EQ(frontend->spiffe_id.ToString(), "spiffe://cluster.local/ns/default/sa/frontend");
  EXPECT_EQ(UriOf(frontend->client_context), "spiffe://cluster.local/ns/default/sa/frontend");
  EXPECT_EQ(UriOf(frontend->server_context), "spiffe://cluster.local/ns/default/sa/frontend");
  EXPECT_FALSE(frontend->serial_hex.empty());
  EXPECT_GT(frontend->not_after, std::chrono::system_clock::now());
  EXPECT_EQ(manager->Get("default", "api")->spiffe_id.service_account(), "api");
  EXPECT_EQ(manager->Get("default", "unknown"), nullptr);

  // The manager adopted the CA's bundle (the initial one was from an unrelated CA).
  EXPECT_EQ(manager->TrustBundlePem(), signer.BundlePem());
  auto status = manager->Status();
  ASSERT_EQ(status.size(), 2u);
  for (const IdentityStatus& s : status) {
    EXPECT_TRUE(s.serving) << s.spiffe_id;
    EXPECT_TRUE(s.lifetime.has_value());
    EXPECT_TRUE(s.last_error.empty()) << s.last_error;
    EXPECT_GT(s.next_attempt, std::chrono::system_clock::now()) << "next renewal is in the future";
  }
}

TEST(IdentityManager, ContextsOfTwoIdentitiesCompleteAMutualHandshake) {
  FakeCertificateSigner signer(MakeTestCa("cluster.local"));
  auto manager = MakeManager(FastOptions("cluster.local"), signer, BundleOf(MakeTestCa("cluster.local")));
  ASSERT_NE(manager, nullptr);
  manager->SetWanted({kFrontend, kApi});
  ASSERT_TRUE(manager->WaitReady("default", "frontend", Deadline()));
  ASSERT_TRUE(manager->WaitReady("default", "api", Deadline()));

  Handshake h = RunHandshake(manager->Get("default", "frontend")->client_context,
                             manager->Get("default", "api")->server_context);
  ASSERT_OK(h.client);
  ASSERT_OK(h.server);
  ASSERT_TRUE(h.client.value() && h.server.value());
  EXPECT_EQ(UriOf(h.server_session->peer_certificate()), "spiffe://cluster.local/ns/default/sa/frontend");
  EXPECT_EQ(UriOf(h.client_session->peer_certificate()), "spiffe://cluster.local/ns/default/sa/api");

  // Bytes flow both ways once established.
  const std::string hello = "CONNECT 198.18.0.10:8080 HTTP/1.1\r\n\r\n";
  ASSERT_OK(h.client_session->Write({reinterpret_cast<const uint8_t*>(hello.data()), hello.size()}));
  ASSERT_OK(h.server_session->FeedCiphertext(h.client_session->TakeCiphertext()));
  std::vector<uint8_t> buffer(4096);
  std::string received;
  for (int i = 0; i < 4 && received.size() < hello.size(); ++i) {
    auto read = h.server_session->Read(buffer);
    ASSERT_OK(read);
    received.append(reinterpret_cast<const char*>(buffer.data()), read->bytes);
  }
  EXPECT_EQ(received, hello);
}

// A client context presenting the same certificate and key as `like` but accepting any server.
std::shared_ptr<tunnel::TlsContext> PermissiveClientLike(const std::shared_ptr<tunnel::TlsContext>& like) {
  tunnel::TlsContextOptions options;
  options.role = tunnel::TlsRole::kClient;
  options.credentials.certificate = tunnel::ShareX509(SSL_CTX_get0_certificate(like->native()));
  options.credentials.private_key = tunnel::ShareEvpPkey(SSL_CTX_get0_privatekey(like->native()));
  X509_STORE* store = SSL_CTX_get_cert_store(like->native());
  STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store);
  for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
    X509* root = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i));
    if (root != nullptr) options.trust_roots.push_back(tunnel::ShareX509(root));
  }
  options.verify_peer = [](X509*, STACK_OF(X509) *) -> Result<void> { return Ok(); };
  auto context = tunnel::TlsContext::Create(std::move(options));
  if (!context.ok()) throw std::runtime_error(context.error().Message());
  return std::move(context).value();
}

// A CA for another trust domain under the *same* root key: its leaves chain to our bundle, so
// only the trust-domain check can refuse them.
identity::CertificateAuthority SameRootOtherDomain(const identity::CertificateAuthority& ca, const std::string& td) {
  identity::CaOptions options;
  options.trust_domain = td;
  options.clock_skew_allowance = 0s;
  auto other = identity::CertificateAuthority::FromPem(options, ca.SigningCertificatePem().value(),
                                                        ca.SigningKeyPem().value());
  if (!other.ok()) throw std::runtime_error(other.error().Message());
  return std::move(other).value();
}

TEST(IdentityManager, PeerFromAnotherTrustDomainIsRefused) {
  auto ca = MakeTestCa("cluster.local");
  FakeCertificateSigner foreign_signer(SameRootOtherDomain(ca, "other.example"));
  FakeCertificateSigner signer(std::move(ca));
  auto ours = MakeManager(FastOptions("cluster.local"), signer, identity::TrustBundle::FromPem(signer.BundlePem()).value());
  auto theirs = MakeManager(FastOptions("other.example"), foreign_signer,
                            identity::TrustBundle::FromPem(signer.BundlePem()).value());
  ASSERT_NE(ours, nullptr);
  ASSERT_NE(theirs, nullptr);
  ours->SetWanted({kApi});
  theirs->SetWanted({kFrontend});
  ASSERT_TRUE(ours->WaitReady("default", "api", Deadline()));
  ASSERT_TRUE(theirs->WaitReady("default", "frontend", Deadline()));

  // Their client (made permissive, as an intruder's would be) dials our server: our server
  // refuses the client certificate.
  Handshake inbound = RunHandshake(PermissiveClientLike(theirs->Get("default", "frontend")->client_context),
                                   ours->Get("default", "api")->server_context);
  EXPECT_FALSE(inbound.server.ok());
  EXPECT_NE(inbound.server_session->peer_rejection().find("foreign trust domain"), std::string::npos)
      << inbound.server_session->peer_rejection();

  // Our client dials their server: our client refuses the server certificate.
  ours->SetWanted({kApi, kFrontend});
  theirs->SetWanted({kFrontend, kApi});
  ASSERT_TRUE(ours->WaitReady("default", "frontend", Deadline()));
  ASSERT_TRUE(theirs->WaitReady("default", "api", Deadline()));
  Handshake outbound = RunHandshake(ours->Get("default", "frontend")->client_context,
                                    theirs->Get("default", "api")->server_context);
  EXPECT_FALSE(outbound.client.ok());
  EXPECT_NE(outbound.client_session->peer_rejection().find("foreign trust domain"), std::string::npos)
      << outbound.client_session->peer_rejection();
}

TEST(IdentityManager, ShortLivedCertificateIsRenewedWithANewSerial) {
  FakeCertificateSigner signer(MakeTestCa("cluster.local", 4s));
  auto manager = MakeManager(FastOptions("cluster.local"), signer, identity::TrustBundle::FromPem(signer.BundlePem()).value());
  ASSERT_NE(manager, nullptr);
  manager->SetWanted({kFrontend});
  ASSERT_TRUE(manager->WaitReady("default", "frontend", Deadline()));
  auto first = manager->Get("default", "frontend");
  ASSERT_NE(first, nullptr);

  std::shared_ptr<const WorkloadCredentials> renewed;
  const auto deadline = Deadline();
  while (std::chrono::steady_clock::now() < deadline) {
    auto current = manager->Get("default", "frontend");
    ASSERT_NE(current, nullptr) << "renewal must never leave a gap";
    if (current->serial_hex != first->serial_hex) {
      renewed = current;
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_NE(renewed, nullptr) << "no renewal within 30 s of a 4 s certificate";
  EXPECT_GT(renewed->not_after, first->not_after);
  EXPECT_EQ(renewed->spiffe_id, first->spiffe_id);
  // Connections started on the old contexts keep them alive; new ones use the renewed contexts.
  EXPECT_NE(renewed->server_context, first->server_context);
}

TEST(IdentityManager, CaOutageKeepsTheCertificateUntilExpiryThenFailsClosed) {
  FakeCertificateSigner signer(MakeTestCa("cluster.local", 4s));
  auto manager = MakeManager(FastOptions("cluster.local"), signer, identity::TrustBundle::FromPem(signer.BundlePem()).value());
  ASSERT_NE(manager, nullptr);
  manager->SetWanted({kFrontend});
  ASSERT_TRUE(manager->WaitReady("default", "frontend", Deadline()));
  signer.SetFailing(true);
  const int calls_when_down = signer.calls();

  std::shared_ptr<const WorkloadCredentials> last_seen;
  const auto deadline = Deadline();
  bool failed_closed = false;
  while (std::chrono::steady_clock::now() < deadline) {
    auto current = manager->Get("default", "frontend");
    const auto after = std::chrono::system_clock::now();
    if (current == nullptr) {
      ASSERT_NE(last_seen, nullptr);
      EXPECT_GE(after, last_seen->not_after) << "the certificate was dropped before it expired";
      failed_closed = true;
      break;
    }
    last_seen = current;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(failed_closed) << "an expired certificate is still being served";
  EXPECT_GT(signer.calls(), calls_when_down) << "renewal was retried while the CA was down";
  auto status = manager->Status();
  ASSERT_EQ(status.size(), 1u);
  EXPECT_FALSE(status[0].serving);
  EXPECT_NE(status[0].last_error.find("UNAVAILABLE"), std::string::npos) << status[0].last_error;
  EXPECT_GE(status[0].consecutive_failures, 1);

  // The CA comes back: the identity recovers with a new certificate.
  signer.SetFailing(false);
  ASSERT_TRUE(manager->WaitReady("default", "frontend", Deadline()));
  EXPECT_NE(manager->Get("default", "frontend")->serial_hex, last_seen->serial_hex);
  EXPECT_TRUE(manager->Status()[0].last_error.empty());
}

TEST(IdentityManager, IdentityNoLongerWantedIsDropped) {
  FakeCertificateSigner signer(MakeTestCa("cluster.local"));
  auto manager = MakeManager(FastOptions("cluster.local"), signer, identity::TrustBundle::FromPem(signer.BundlePem()).value());
  ASSERT_NE(manager, nullptr);
  manager->SetWanted({kFrontend, kApi});
  ASSERT_TRUE(manager->WaitReady("default", "frontend", Deadline()));
  ASSERT_TRUE(manager->WaitReady("default", "api", Deadline()));

  manager->SetWanted({kApi});
  EXPECT_EQ(manager->Get("default", "frontend"), nullptr);
  EXPECT_NE(manager->Get("default", "api"), nullptr);
  auto status = manager->Status();
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].workload, kApi);

  // Wanted again later: issued afresh.
  const int successes = signer.successes();
  manager->SetWanted({kApi, kFrontend});
  ASSERT_TRUE(manager->WaitReady("default", "frontend", Deadline()));
  EXPECT_GT(signer.successes(), successes);
}

// The leaf was signed by the signer's current CA (the last root of its bundle).
bool IssuerIs(const std::shared_ptr<const WorkloadCredentials>& credentials, const FakeCertificateSigner& signer) {
  auto roots = identity::CertificatesFromPem(signer.BundlePem());
  X509* leaf = SSL_CTX_get0_certificate(credentials->client_context->native());
  return roots.ok() && leaf != nullptr && X509_check_issued(roots->back().get(), leaf) == X509_V_OK;
}

TEST(IdentityManager, RootRotationTrustsBothRootsAndRenewsOntoTheNewOne) {
  auto old_ca = MakeTestCa("cluster.local", 4s);
  const std::string old_root = old_ca.trust_bundle().ToPem().value();
  FakeCertificateSigner signer(std::move(old_ca));
  auto manager = MakeManager(FastOptions("cluster.local"), signer, identity::TrustBundle::FromPem(old_root).value());
  ASSERT_NE(manager, nullptr);
  manager->SetWanted({kFrontend, kApi});
  ASSERT_TRUE(manager->WaitReady("default", "frontend", Deadline()));
  ASSERT_TRUE(manager->WaitReady("default", "api", Deadline()));

  auto new_ca = MakeTestCa("cluster.local", 4s);
  const std::string both = old_root + new_ca.trust_bundle().ToPem().value();
  signer.ReplaceCa(std::move(new_ca), both);
  const auto deadline = Deadline();
  while (std::chrono::steady_clock::now() < deadline && manager->TrustBundlePem() != both) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(manager->TrustBundlePem(), both);
  auto bundle = identity::TrustBundle::FromPem(manager->TrustBundlePem());
  ASSERT_OK(bundle);
  EXPECT_EQ(bundle->roots().size(), 2u);

  // Whatever mix of old- and new-root leaves the two identities hold now, they accept each other.
  Handshake mixed = RunHandshake(manager->Get("default", "frontend")->client_context,
                                 manager->Get("default", "api")->server_context);
  EXPECT_OK(mixed.client);
  EXPECT_OK(mixed.server);

  // Renewals move both identities onto the new root, and they still accept each other.
  auto renewed = [&](const std::string& sa) {
    auto c = manager->Get("default", sa);
    return c != nullptr && IssuerIs(c, signer);
  };
  while (std::chrono::steady_clock::now() < deadline && !(renewed("frontend") && renewed("api"))) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(renewed("frontend") && renewed("api"));
  Handshake fresh = RunHandshake(manager->Get("default", "frontend")->client_context,
                                 manager->Get("default", "api")->server_context);
  EXPECT_OK(fresh.client);
  EXPECT_OK(fresh.server);
}

TEST(IdentityManager, TrustDomainChangeReissuesUnderTheNewDomain) {
  auto ca = MakeTestCa("cluster.local");
  auto renamed = SameRootOtherDomain(ca, "mesh.example");
  FakeCertificateSigner signer(std::move(ca));
  auto manager = MakeManager(FastOptions("cluster.local"), signer, identity::TrustBundle::FromPem(signer.BundlePem()).value());
  ASSERT_NE(manager, nullptr);
  manager->SetWanted({kFrontend});
  ASSERT_TRUE(manager->WaitReady("default", "frontend", Deadline()));

  signer.ReplaceCa(std::move(renamed));
  ASSERT_OK(manager->SetTrustDomain("mesh.example"));
  EXPECT_EQ(manager->trust_domain(), "mesh.example");
  ASSERT_TRUE(manager->WaitReady("default", "frontend", Deadline()));
  EXPECT_EQ(manager->Get("default", "frontend")->spiffe_id.ToString(), "spiffe://mesh.example/ns/default/sa/frontend");
  EXPECT_ERR(manager->SetTrustDomain("Not A Domain"));
}

TEST(IdentityManager, RefusesInvalidOptions) {
  FakeCertificateSigner signer(MakeTestCa("cluster.local"));
  IdentityManager::Options options = FastOptions("");
  EXPECT_ERR(IdentityManager::Create(options, signer, identity::TrustBundle::FromPem(signer.BundlePem()).value()));
}

}  // namespace
}  // namespace ferry::certs
