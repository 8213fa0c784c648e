#include "identity/certificate_authority.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "cert_factory.h"
#include "identity/csr.h"
#include "identity/peer_verifier.h"
#include "identity/pem.h"
#include "identity/x509_inspect.h"
#include "test_result.h"

namespace ferry::identity {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

const std::string kApi = "spiffe://cluster.local/ns/shop/sa/api";

// The controller's rule, faked: node-a runs shop/api; nothing else runs anywhere.
Result<void> FakeScheduler(const std::string& node, const SpiffeId& id) {
  if (node == "node-a" && id.ns() == "shop" && id.service_account() == "api") return Ok();
  return MakeError("no pod with " + id.ns() + "/" + id.service_account() + " on " + node);
}

std::string GoodCsrFor(const std::string& uri) {
  UniqueEvpPkey key = testing::MakeEcKey();
  return testing::MakeCsrPem(key.get(), {uri});
}

class CertificateAuthorityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = CertificateAuthority::CreateSelfSigned(Options());
    ASSERT_OK(ca);
    ca_.emplace(std::move(ca).value());
  }

  CaOptions Options() {
    return CaOptions{.trust_domain = "cluster.local", .clock = [this] { return now_; }};
  }

  PeerVerifier VerifierFor(const CertificateAuthority& ca) {
    auto v = PeerVerifier::Create(ca.trust_bundle().Clone(), {.trust_domain = "cluster.local",
                                                              .clock = [this] { return now_; }});
    EXPECT_OK(v);
    return std::move(v).value();
  }

  // Issues for node-a and verifies the result as a tunnel peer would.
  Result<SpiffeId> IssueAndVerify(const CertificateAuthority& ca) {
    auto key = WorkloadKey::Generate();
    if (!key.ok()) return key.error();
    auto csr = key->CreateCsrPem(SpiffeId::Parse(kApi).value());
    if (!csr.ok()) return csr.error();
    auto issued = ca.Sign(csr.value(), {.node = "node-a"}, FakeScheduler);
    if (!issued.ok()) return issued.error();
    auto leaf = CertificateFromPem(issued->certificate_pem);
    if (!leaf.ok()) return leaf.error();
    FERRY_TRY(key->MatchesCertificate(leaf->get()));
    UniqueX509Stack chain(sk_X509_new_null());
    if (!issued->chain_pem.empty()) {
      auto certs = CertificatesFromPem(issued->chain_pem);
      if (!certs.ok()) return certs.error();
      for (auto& c : certs.value()) sk_X509_push(chain.get(), c.release());
    }
    return VerifierFor(ca).Verify(leaf->get(), chain.get(), {PeerRole::kClient, std::nullopt});
  }

  // Whole seconds, like certificate times, so lifetimes compare exactly.
  SystemTime now_ = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  std::optional<CertificateAuthority> ca_;
};

TEST_F(CertificateAuthorityTest, SelfGeneratedRootIsA10YearP256Ca) {
  X509* root = ca_->signing_certificate();
  EXPECT_EQ(X509_check_ca(root), 1);
  EXPECT_TRUE(IsSelfSigned(root));
  EXPECT_OK(RequireP256Key(X509_get0_pubkey(root)));
  EXPECT_NE(X509_get_key_usage(root) & KU_KEY_CERT_SIGN, 0u);
  EXPECT_EQ(X509_get_pathlen(root), 0);
  auto life = LifetimeOf(root);
  ASSERT_OK(life);
  EXPECT_GE(life->not_after - now_, 24h * 3649);
  EXPECT_EQ(ca_->trust_bundle().roots().size(), 1u);
}

TEST_F(CertificateAuthorityTest, IssuesLeafWithRequestedSanTtlAndUsages) {
  auto key = WorkloadKey::Generate();
  ASSERT_OK(key);
  auto csr = key->CreateCsrPem(SpiffeId::Parse(kApi).value());
  ASSERT_OK(csr);
  auto issued = ca_->Sign(csr.value(), {.node = "node-a"}, FakeScheduler);
  ASSERT_OK(issued);
  EXPECT_EQ(issued->id.ToString(), kApi);
  EXPECT_EQ(issued->chain_pem, "");  // signed directly by the root

  UniqueX509 leaf = testing::FromPem(issued->certificate_pem);
  auto san = CertificateUriSan(leaf.get());
  ASSERT_OK(san);
  EXPECT_EQ(san.value(), kApi);
  auto life = LifetimeOf(leaf.get());
  ASSERT_OK(life);
  EXPECT_EQ(life->not_before, std::chrono::floor<std::chrono::seconds>(now_ - 5min));
  EXPECT_EQ(life->not_after, std::chrono::floor<std::chrono::seconds>(now_ + 24h));
  EXPECT_EQ(life->not_before, issued->lifetime.not_before);  // reported == certified
  EXPECT_EQ(life->not_after, issued->lifetime.not_after);
  EXPECT_EQ(X509_check_ca(leaf.get()), 0);
  EXPECT_EQ(X509_get_key_usage(leaf.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(leaf.get()),
            static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  EXPECT_NE(X509_get0_subject_key_id(leaf.get()), nullptr);
  EXPECT_NE(X509_get0_authority_key_id(leaf.get()), nullptr);
  EXPECT_OK(key->MatchesCertificate(leaf.get()));
  // Serial: positive and at most 128 bits.
  const ASN1_INTEGER* serial = X509_get0_serialNumber(leaf.get());
  EXPECT_NE(serial->type & V_ASN1_NEG, V_ASN1_NEG);
  EXPECT_LE(ASN1_STRING_length(serial), 16);
}

TEST_F(CertificateAuthorityTest, IssuedLeafChainsToTheRoot) {
  auto id = IssueAndVerify(*ca_);
  ASSERT_OK(id);
  EXPECT_EQ(id->ToString(), kApi);
}

TEST_F(CertificateAuthorityTest, SerialDiffersEveryTime) {
  auto key = WorkloadKey::Generate();
  ASSERT_OK(key);
  auto csr = key->CreateCsrPem(SpiffeId::Parse(kApi).value());
  ASSERT_OK(csr);
  std::set<std::string> serials;
  for (int i = 0; i < 20; ++i) {
    auto issued = ca_->Sign(csr.value(), {.node = "node-a"}, FakeScheduler);
    ASSERT_OK(issued);
    serials.insert(issued->serial_hex);
  }
  EXPECT_EQ(serials.size(), 20u);
}

TEST_F(CertificateAuthorityTest, TtlIsConfigurableAndRequestsMayOnlyShortenIt) {
  CaOptions options = Options();
  options.leaf_ttl = 1h;
  auto ca = CertificateAuthority::CreateSelfSigned(options);
  ASSERT_OK(ca);
  auto key = WorkloadKey::Generate();
  ASSERT_OK(key);
  auto csr = key->CreateCsrPem(SpiffeId::Parse(kApi).value());
  ASSERT_OK(csr);
  auto configured = ca->Sign(csr.value(), {.node = "node-a"}, FakeScheduler);
  ASSERT_OK(configured);
  EXPECT_EQ(configured->lifetime.not_after - now_, 1h);
  auto shorter = ca->Sign(csr.value(), {.node = "node-a", .ttl = 10min}, FakeScheduler);
  ASSERT_OK(shorter);
  EXPECT_EQ(shorter->lifetime.not_after - now_, 10min);
  auto longer = ca->Sign(csr.value(), {.node = "node-a", .ttl = 48h}, FakeScheduler);
  ASSERT_OK(longer);
  EXPECT_EQ(longer->lifetime.not_after - now_, 1h);
}

TEST_F(CertificateAuthorityTest, LeafNeverOutlivesItsIssuer) {
  CaOptions options = Options();
  options.root_ttl = 2h;
  auto ca = CertificateAuthority::CreateSelfSigned(options);
  ASSERT_OK(ca);
  auto issued = ca->Sign(GoodCsrFor(kApi), {.node = "node-a"}, FakeScheduler);
  ASSERT_OK(issued);
  EXPECT_EQ(issued->lifetime.not_after, now_ + 2h);
  now_ += 3h;  // the CA itself has expired: refuse rather than mint unusable leaves
  auto late = ca->Sign(GoodCsrFor(kApi), {.node = "node-a"}, FakeScheduler);
  ASSERT_FALSE(late.ok());
  EXPECT_NE(late.error().Message().find("CA certificate is not valid now"), std::string::npos);
}

struct RefuseCase {
  std::string name;
  std::string node;
  std::function<std::string()> make_csr;
  std::string reason;
};

void PrintTo(const RefuseCase& c, std::ostream* os) { *os << c.name; }

class CertificateAuthorityRefuseTest : public CertificateAuthorityTest,
                                       public ::testing::WithParamInterface<RefuseCase> {};

TEST_P(CertificateAuthorityRefuseTest, RefusesWithReason) {
  const RefuseCase& c = GetParam();
  auto issued = ca_->Sign(c.make_csr(), {.node = c.node}, FakeScheduler);
  ASSERT_FALSE(issued.ok()) << "issued " << issued->id.ToString();
  EXPECT_NE(issued.error().Message().find(c.reason), std::string::npos) << issued.error().Message();
}

std::string GoodCsr(const std::string& uri) {
  UniqueEvpPkey key = testing::MakeEcKey();
  return testing::MakeCsrPem(key.get(), {uri});
}

INSTANTIATE_TEST_SUITE_P(
    Table, CertificateAuthorityRefuseTest,
    ::testing::Values(
        RefuseCase{"wrong_node", "node-b", [] { return GoodCsr(kApi); },
                   "node \"node-b\" may not obtain spiffe://cluster.local/ns/shop/sa/api: no pod"},
        RefuseCase{"wrong_sa", "node-a",
                   [] { return GoodCsr("spiffe://cluster.local/ns/shop/sa/admin"); },
                   "may not obtain spiffe://cluster.local/ns/shop/sa/admin"},
        RefuseCase{"no_node", "", [] { return GoodCsr(kApi); }, "no node"},
        RefuseCase{"bad_pem", "node-a", [] { return "-----BEGIN CERTIFICATE REQUEST-----\nxx"s; },
                   "malformed PEM certificate request"},
        RefuseCase{"empty", "node-a", [] { return ""s; }, "malformed PEM"},
        RefuseCase{"tampered_signature", "node-a",
                   [] { return testing::TamperCsrSignature(GoodCsr(kApi)); }, "bad CSR signature"},
        // An attacker rewrites the requested identity in a CSR someone else signed.
        RefuseCase{"tampered_san", "node-a",
                   [] {
                     return testing::TamperCsrBody(GoodCsr("spiffe://cluster.local/ns/shop/sa/apj"),
                                                   "sa/apj", "sa/api");
                   },
                   "bad CSR signature"},
        RefuseCase{
            "two_uri_sans", "node-a",
            [] {
              UniqueEvpPkey key = testing::MakeEcKey();
              return testing::MakeCsrPem(key.get(), {kApi, "spiffe://cluster.local/ns/shop/sa/db"});
            },
            "several URI subjectAltNames"},
        RefuseCase{"no_san", "node-a",
                   [] {
                     UniqueEvpPkey key = testing::MakeEcKey();
                     return testing::MakeCsrPem(key.get(), {});
                   },
                   "no subjectAltName"},
        RefuseCase{"nul_in_san", "node-a", [] { return GoodCsr(kApi + "\0x"s); }, "NUL byte"},
        RefuseCase{"san_not_spiffe_id", "node-a",
                   [] { return GoodCsr("spiffe://cluster.local/ns/shop/sa/api/extra"); },
                   "not a valid SPIFFE ID"},
        RefuseCase{"foreign_trust_domain", "node-a",
                   [] { return GoodCsr("spiffe://evil.org/ns/shop/sa/api"); },
                   "foreign trust domain \"evil.org\""},
        RefuseCase{"rsa_key", "node-a",
                   [] {
                     UniqueEvpPkey rsa = testing::MakeRsaKey();
                     return testing::MakeCsrPem(rsa.get(), {kApi});
                   },
                   "key type RSA is not ECDSA P-256"},
        RefuseCase{"p384_key", "node-a",
                   [] {
                     UniqueEvpPkey key = testing::MakeEcKey("P-384");
                     return testing::MakeCsrPem(key.get(), {kApi});
                   },
                   "secp384r1 is not P-256"}),
    [](const ::testing::TestParamInfo<RefuseCase>& info) { return info.param.name; });

TEST_F(CertificateAuthorityTest, RefusesWithoutAuthorizer) {
  auto issued = ca_->Sign(GoodCsr(kApi), {.node = "node-a"}, nullptr);
  ASSERT_FALSE(issued.ok());
  EXPECT_NE(issued.error().Message().find("no authorizer"), std::string::npos);
}

}  // namespace
}  // namespace ferry::identity
