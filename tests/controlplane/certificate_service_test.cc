// The controller's CA and CertificateService through a real gRPC server over TLS on 127.0.0.1:
// only the node a pod is scheduled on obtains its identity, every call needs a node token, the
// PolicyDiscovery stream serves a node only its own snapshot, and agents verify the controller
// against the trust bundle.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <openssl/x509v3.h>

#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "controller_fixture.h"
#include "ferry/v1/certificate.grpc.pb.h"
#include "ferry/v1/discovery.grpc.pb.h"
#include "identity/csr.h"
#include "identity/pem.h"
#include "identity/trust_bundle.h"
#include "identity/x509_inspect.h"
#include "secure_channel.h"
#include "test_manifests.h"
#include "test_result.h"

namespace ferry::controlplane {
namespace {

using namespace testing;  // NOLINT
using namespace std::chrono_literals;  // NOLINT

constexpr char kTrustDomain[] = "example.org";

// shop/api runs on node-1, shop/db on node-2.
const char kInventory[] = R"({"workloads": [
  {"name": "api-0", "namespace": "shop", "serviceAccount": "api", "node": "node-1", "ip": "198.18.1.2"},
  {"name": "db-0", "namespace": "shop", "serviceAccount": "db", "node": "node-2", "ip": "198.18.2.2"}]})";

std::string CsrFor(const std::string& trust_domain, const std::string& ns, const std::string& sa,
                   identity::WorkloadKey* key_out = nullptr) {
  Result<identity::WorkloadKey> key = identity::WorkloadKey::Generate();
  EXPECT_OK(key);
  Result<identity::SpiffeId> id = identity::SpiffeId::Make(trust_domain, ns, sa);
  EXPECT_OK(id);
  Result<std::string> csr = key->CreateCsrPem(id.value());
  EXPECT_OK(csr);
  if (key_out != nullptr) *key_out = std::move(key).value();
  return csr.value();
}

// The leaf, with the chain the controller sent, verifies against `bundle_pem` as a TLS peer would.
Result<void> ChainsToBundle(const std::string& leaf_pem, const std::string& chain_pem, const std::string& bundle_pem) {
  Result<identity::TrustBundle> bundle = identity::TrustBundle::FromPem(bundle_pem);
  if (!bundle.ok()) return bundle.error();
  Result<identity::UniqueX509Store> store = bundle->NewStore();
  if (!store.ok()) return store.error();
  Result<identity::UniqueX509> leaf = identity::CertificateFromPem(leaf_pem);
  if (!leaf.ok()) return leaf.error();
  identity::UniqueX509Stack untrusted(sk_X509_new_null());
  if (!chain_pem.empty()) {
    Result<std::vector<identity::UniqueX509>> chain = identity::CertificatesFromPem(chain_pem);
    if (!chain.ok()) return chain.error();
    for (auto& c : chain.value()) sk_X509_push(untrusted.get(), c.release());
  }
  identity::UniqueX509StoreCtx ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store->get(), leaf->get(), untrusted.get());
  if (X509_verify_cert(ctx.get()) != 1) {
    return MakeError(X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get())));
  }
  return Ok();
}

class CertificateServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.Write("shop.yaml", Docs({Namespace("shop"), TcpRoute("db-port"), Target("api-to-db")}));
    dir_.Write(".ferry/workloads.json", kInventory);
    options_ = TestControllerOptions(dir_);
    options_.compiler.mesh.trust_domain = kTrustDomain;
    options_.ca.leaf_ttl = 120s;
    options_.trust_bundle_out = dir_.path() / "bundle-out" / "bundle.pem";
  }

  void Start() {
    Result<std::unique_ptr<Controller>> c = Controller::Start(std::move(options_));
    ASSERT_OK(c);
    controller_ = std::move(c).value();
    channel_ = TlsChannel(*controller_);
  }

  // SignCertificate with `token` (none when empty) on the fixture's channel.
  grpc::Status Sign(const std::string& token, const std::string& csr, v1::SignCertificateResponse* response,
                    int64_t ttl_seconds = 0) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 30s);
    if (!token.empty()) AddBearer(context, token);
    v1::SignCertificateRequest request;
    request.set_csr_pem(csr);
    request.set_ttl_seconds(ttl_seconds);
    return v1::CertificateService::NewStub(channel_)->SignCertificate(&context, request, response);
  }

  nlohmann::json StatusFile() const {
    std::ifstream in(dir_.path() / ".ferry-status.json");
    return nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  }

  TempDir dir_;
  ControllerOptions options_;
  std::unique_ptr<Controller> controller_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(CertificateServiceTest, SignsTheIdentityOfAPodScheduledOnTheNode) {
  Start();
  identity::WorkloadKey key = identity::WorkloadKey::Generate().value();
  const std::string csr = CsrFor(kTrustDomain, "shop", "api", &key);
  v1::SignCertificateResponse response;
  const auto before = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  grpc::Status status = Sign(TestToken("node-1"), csr, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();

  EXPECT_EQ(response.spiffe_id(), "spiffe://example.org/ns/shop/sa/api");
  Result<identity::UniqueX509> leaf = identity::CertificateFromPem(response.certificate_pem());
  ASSERT_OK(leaf);
  EXPECT_EQ(identity::CertificateUriSan(leaf->get()).value(), "spiffe://example.org/ns/shop/sa/api");
  EXPECT_OK(key.MatchesCertificate(leaf->get()));  // the agent's own key, never sent
  EXPECT_OK(ChainsToBundle(response.certificate_pem(), response.chain_pem(), response.trust_bundle_pem()));
  EXPECT_EQ(response.trust_bundle_pem(), controller_->ca().trust_bundle_pem);
  EXPECT_TRUE(response.chain_pem().empty());  // issued directly by the generated root
  EXPECT_EQ(response.serial_hex(), identity::SerialHex(leaf->get()));
  // The configured TTL (120 s) from now; notBefore is backdated for slow clocks.
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(before.time_since_epoch()).count();
  EXPECT_GE(response.not_after_unix(), now + 120);
  EXPECT_LE(response.not_after_unix(), now + 120 + 60);
  EXPECT_LT(response.not_before_unix(), now);
  Result<identity::CertificateLifetime> lifetime = identity::LifetimeOf(leaf->get());
  ASSERT_OK(lifetime);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(lifetime->not_after), response.not_after_unix());

  // A shorter TTL may be asked for; a longer one is cut to the configured one.
  ASSERT_TRUE(Sign(TestToken("node-1"), csr, &response, 30).ok());
  EXPECT_LE(response.not_after_unix(), now + 30 + 60);
  ASSERT_TRUE(Sign(TestToken("node-1"), csr, &response, 86400).ok());
  EXPECT_LE(response.not_after_unix(), now + 120 + 60);

  ASSERT_TRUE(WaitFor([&] { return StatusFile()["certificates"]["signed"] == 3; })) << StatusFile().dump(2);
}

TEST_F(CertificateServiceTest, RefusesAnIdentityScheduledOnAnotherNode) {
  Start();
  v1::SignCertificateResponse response;
  grpc::Status status = Sign(TestToken("node-1"), CsrFor(kTrustDomain, "shop", "db"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("no pod with service account shop/db is scheduled on node \"node-1\""),
            std::string::npos)
      << status.error_message();
  EXPECT_NE(status.error_message().find("node-2"), std::string::npos) << status.error_message();
  EXPECT_TRUE(response.certificate_pem().empty());
  // node-2 does run it.
  EXPECT_TRUE(Sign(TestToken("node-2"), CsrFor(kTrustDomain, "shop", "db"), &response).ok());

  ASSERT_TRUE(WaitFor([&] { return StatusFile()["certificates"]["refused"] == 1; })) << StatusFile().dump(2);
  nlohmann::json certificates = StatusFile()["certificates"];
  EXPECT_EQ(certificates["refusedByReason"]["not-on-node"], 1);
  EXPECT_NE(certificates["lastRefusal"].get<std::string>().find("shop/db"), std::string::npos);
}

TEST_F(CertificateServiceTest, RefusesAServiceAccountWithNoPodAnywhere) {
  Start();
  v1::SignCertificateResponse response;
  grpc::Status status = Sign(TestToken("node-1"), CsrFor(kTrustDomain, "shop", "admin"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("shop/admin is scheduled on any node"), std::string::npos)
      << status.error_message();
}

TEST_F(CertificateServiceTest, FollowsTheWorkloadInventoryAsItChanges) {
  Start();
  v1::SignCertificateResponse response;
  ASSERT_EQ(Sign(TestToken("node-1"), CsrFor(kTrustDomain, "shop", "web"), &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  dir_.Write(".ferry/workloads.json",
             R"({"workloads": [{"name": "web-0", "namespace": "shop", "serviceAccount": "web", "node": "node-1"}]})");
  ASSERT_TRUE(WaitFor([&] { return Sign(TestToken("node-1"), CsrFor(kTrustDomain, "shop", "web"), &response).ok(); }));
  // api-0 is gone from the inventory, so is node-1's right to its identity.
  EXPECT_EQ(Sign(TestToken("node-1"), CsrFor(kTrustDomain, "shop", "api"), &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(CertificateServiceTest, RejectsMalformedCsrsAndForeignTrustDomains) {
  Start();
  v1::SignCertificateResponse response;
  grpc::Status garbage = Sign(TestToken("node-1"), "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", &response);
  EXPECT_EQ(garbage.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << garbage.error_message();
  EXPECT_NE(garbage.error_message().find("CSR refused"), std::string::npos) << garbage.error_message();

  grpc::Status foreign = Sign(TestToken("node-1"), CsrFor("cluster.local", "shop", "api"), &response);
  EXPECT_EQ(foreign.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(foreign.error_message().find("foreign trust domain \"cluster.local\""), std::string::npos)
      << foreign.error_message();

  grpc::Status negative = Sign(TestToken("node-1"), CsrFor(kTrustDomain, "shop", "api"), &response, -5);
  EXPECT_EQ(negative.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  ASSERT_TRUE(WaitFor([&] { return StatusFile()["certificates"]["refusedByReason"]["invalid-request"] == 3; }))
      << StatusFile().dump(2);
}

TEST_F(CertificateServiceTest, CallsWithoutAKnownTokenAreUnauthenticated) {
  Start();
  const std::string csr = CsrFor(kTrustDomain, "shop", "api");
  v1::SignCertificateResponse response;
  EXPECT_EQ(Sign("", csr, &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Sign("not-a-token", csr, &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Sign(TestToken("node-1") + "x", csr, &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", TestToken("node-1"));  // the token without "Bearer "
    v1::SignCertificateRequest request;
    request.set_csr_pem(csr);
    EXPECT_EQ(v1::CertificateService::NewStub(channel_)->SignCertificate(&context, request, &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  // Authentication is per call, not per connection: the same channel works with a token and
  // stops working without one.
  EXPECT_TRUE(Sign(TestToken("node-1"), csr, &response).ok());
  EXPECT_EQ(Sign("", csr, &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Sign(TestToken("node-2"), csr, &response).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

// Opens a PolicyDiscovery stream with `token` asking for `node`; returns the first snapshot or
// the status the stream ended with.
struct StreamOutcome {
  bool got_snapshot = false;
  v1::PolicySnapshot snapshot;
  grpc::Status status;
};

StreamOutcome FirstSnapshot(const std::shared_ptr<grpc::Channel>& channel, const std::string& token,
                            const std::string& node) {
  StreamOutcome out;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 30s);
  if (!token.empty()) AddBearer(context, token);
  auto stream = v1::PolicyDiscovery::NewStub(channel)->StreamPolicy(&context);
  v1::PolicyRequest request;
  request.set_node(node);
  stream->Write(request);
  v1::PolicyResponse response;
  if (stream->Read(&response)) {
    out.got_snapshot = true;
    out.snapshot = response.snapshot();
    context.TryCancel();  // the stream would stay open for updates
  }
  out.status = stream->Finish();
  return out;
}

TEST_F(CertificateServiceTest, PolicyDiscoveryServesANodeOnlyItsOwnSnapshot) {
  Start();
  StreamOutcome foreign = FirstSnapshot(channel_, TestToken("node-1"), "node-2");
  EXPECT_FALSE(foreign.got_snapshot);
  EXPECT_EQ(foreign.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(foreign.status.error_message().find("node-1"), std::string::npos) << foreign.status.error_message();

  StreamOutcome anonymous = FirstSnapshot(channel_, "", "node-1");
  EXPECT_FALSE(anonymous.got_snapshot);
  EXPECT_EQ(anonymous.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  StreamOutcome own = FirstSnapshot(channel_, TestToken("node-1"), "node-1");
  ASSERT_TRUE(own.got_snapshot) << own.status.error_message();
  EXPECT_TRUE(HasAuthorization(own.snapshot, "api-to-db"));
  EXPECT_EQ(own.snapshot.mesh().trust_domain(), kTrustDomain);  // the CA's trust domain, for the agent
}

TEST_F(CertificateServiceTest, AClientTrustingAnotherRootFailsTheHandshake) {
  Start();
  Result<identity::CertificateAuthority> other =
      identity::CertificateAuthority::CreateSelfSigned({.trust_domain = kTrustDomain});
  ASSERT_OK(other);
  Result<std::string> other_root = other->trust_bundle().ToPem();
  ASSERT_OK(other_root);
  std::shared_ptr<grpc::Channel> impostor_view = TlsChannel(controller_->address(), other_root.value());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  AddBearer(context, TestToken("node-1"));
  v1::SignCertificateRequest request;
  request.set_csr_pem(CsrFor(kTrustDomain, "shop", "api"));
  v1::SignCertificateResponse response;
  grpc::Status status = v1::CertificateService::NewStub(impostor_view)->SignCertificate(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_TRUE(response.certificate_pem().empty());
  // The same request over a channel trusting the controller's bundle works.
  v1::SignCertificateResponse ok;
  EXPECT_TRUE(Sign(TestToken("node-1"), request.csr_pem(), &ok).ok());
  // The trust bundle was also written for agents to read.
  std::ifstream bundle_file(dir_.path() / "bundle-out" / "bundle.pem");
  std::stringstream bundle;
  bundle << bundle_file.rdbuf();
  EXPECT_EQ(bundle.str(), controller_->ca().trust_bundle_pem);
}

TEST_F(CertificateServiceTest, GeneratedRootIsKeptAcrossRestarts) {
  const std::filesystem::path ca_dir = options_.ca.ca_dir;
  ControllerOptions again = TestControllerOptions(dir_);
  again.compiler.mesh.trust_domain = kTrustDomain;
  Start();
  const std::string first_bundle = controller_->ca().trust_bundle_pem;
  struct stat key_stat {};
  ASSERT_EQ(::stat((ca_dir / "ca.key").c_str(), &key_stat), 0);
  EXPECT_EQ(key_stat.st_mode & 0777, 0600u);
  controller_->Stop();
  controller_.reset();

  Result<std::unique_ptr<Controller>> restarted = Controller::Start(std::move(again));
  ASSERT_OK(restarted);
  EXPECT_EQ(restarted.value()->ca().trust_bundle_pem, first_bundle);
  // A certificate from before the restart still verifies against the bundle agents hold.
  channel_ = TlsChannel(restarted.value()->address(), first_bundle);
  v1::SignCertificateResponse response;
  ASSERT_TRUE(Sign(TestToken("node-1"), CsrFor(kTrustDomain, "shop", "api"), &response).ok());
  EXPECT_OK(ChainsToBundle(response.certificate_pem(), response.chain_pem(), first_bundle));
}

TEST_F(CertificateServiceTest, NodeTokensAreReReadOnReload) {
  Start();
  const std::string csr = CsrFor(kTrustDomain, "shop", "api");
  v1::SignCertificateResponse response;
  ASSERT_EQ(Sign("token-of-node-3", csr, &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // node-3 joins and node-1 leaves; SIGHUP (or any manifest reload) picks that up.
  const std::filesystem::path tokens = dir_.path() / ".ferry-node-tokens.json";
  {
    std::ofstream out(tokens, std::ios::trunc);
    out << R"({"node-3": "token-of-node-3", "node-2": ")" << TestToken("node-2") << R"("})";
  }
  controller_->Reload();
  // Authenticated now, though no shop/api pod runs on node-3.
  EXPECT_EQ(Sign("token-of-node-3", csr, &response).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Sign(TestToken("node-1"), csr, &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // A broken file keeps the tokens in force.
  {
    std::ofstream out(tokens, std::ios::trunc);
    out << "{broken";
  }
  controller_->Reload();
  EXPECT_EQ(Sign("token-of-node-3", csr, &response).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST(ServingCertificate, NamesTheControllerForTlsAndSpiffe) {
  TempDir dir;
  Result<ControllerCa> ca = LoadOrCreateCa({.trust_domain = kTrustDomain, .ca_dir = dir.path() / "ca"});
  ASSERT_OK(ca);
  Result<ServingCertificate> serving = IssueServingCertificate(ca.value(), "ferry-controller", 24h);
  ASSERT_OK(serving);
  EXPECT_EQ(serving->spiffe_id, "spiffe://example.org/ferry/controller");
  identity::UniqueX509 cert = identity::CertificateFromPem(serving->certificate_chain_pem).value();
  EXPECT_EQ(X509_check_host(cert.get(), "ferry-controller", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_host(cert.get(), "other-name", 0, 0, nullptr), 1);
  EXPECT_NE(X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER, 0u);
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()) & XKU_SSL_CLIENT, 0u);  // not a workload identity
  EXPECT_OK(ChainsToBundle(serving->certificate_chain_pem, "", ca->trust_bundle_pem));
  identity::UniqueEvpPkey key = identity::PrivateKeyFromPem(serving->private_key_pem).value();
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
  EXPECT_OK(identity::RequireP256Key(key.get()));
  GENERAL_NAMES* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  ASSERT_NE(names, nullptr);
  bool has_uri = false;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    has_uri = std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)), ASN1_STRING_length(uri)) ==
              "spiffe://example.org/ferry/controller";
  }
  GENERAL_NAMES_free(names);
  EXPECT_TRUE(has_uri);
}

TEST_F(CertificateServiceTest, RefusesToStartWithoutNodeTokensOrCa) {
  ControllerOptions no_tokens = TestControllerOptions(dir_);
  no_tokens.node_tokens_file.clear();
  Result<std::unique_ptr<Controller>> c = Controller::Start(std::move(no_tokens));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().Message().find("--node-tokens"), std::string::npos) << c.error().Message();

  ControllerOptions no_ca = TestControllerOptions(dir_);
  no_ca.ca.ca_dir.clear();
  c = Controller::Start(std::move(no_ca));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().Message().find("--ca-dir"), std::string::npos) << c.error().Message();

  ControllerOptions bad_tokens = TestControllerOptions(dir_);
  dir_.Write("bad-tokens.json", R"({"node-1": "same", "node-2": "same"})");
  bad_tokens.node_tokens_file = dir_.path() / "bad-tokens.json";
  EXPECT_ERR(Controller::Start(std::move(bad_tokens)));
}

}  // namespace
}  // namespace ferry::controlplane
