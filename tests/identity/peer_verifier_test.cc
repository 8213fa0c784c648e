#include "identity/peer_verifier.h"

#include <gtest/gtest.h>

#include <string>

#include "cert_factory.h"
#include "identity/pem.h"
#include "test_result.h"

namespace ferry::identity {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using testing::KeyedCert;
using testing::MakeCa;
using testing::MakeLeaf;
using testing::StackOf;

const std::string kApi = "spiffe://cluster.local/ns/shop/sa/api";

class PeerVerifierTest : public ::testing::Test {
 protected:
  PeerVerifierTest() : root_(MakeCa(now_, "root")) {}

  PeerVerifier Verifier(std::vector<X509*> roots) {
    std::vector<UniqueX509> certs;
    for (X509* r : roots) certs.push_back(ShareX509(r));
    auto bundle = TrustBundle::FromCertificates(std::move(certs));
    EXPECT_OK(bundle);
    auto v = PeerVerifier::Create(
        std::move(bundle).value(),
        PeerVerifierOptions{.trust_domain = "cluster.local", .clock = [this] { return now_; }});
    EXPECT_OK(v);
    return std::move(v).value();
  }

  // Verifies `leaf` (with `chain`) against the root and returns the error text, "" if accepted.
  std::string Rejection(X509* leaf, X509Chain* chain = nullptr, PeerExpectation expectation = {}) {
    auto id = Verifier({root_.cert.get()}).Verify(leaf, chain, expectation);
    return id.ok() ? "" : id.error().Message();
  }

  SystemTime now_ = std::chrono::system_clock::now();
  KeyedCert root_;
};

TEST_F(PeerVerifierTest, AcceptsLeafFromRootAndReturnsItsIdentity) {
  KeyedCert leaf = MakeLeaf(now_, root_, {kApi});
  auto id = Verifier({root_.cert.get()}).Verify(leaf.cert.get(), nullptr, {});
  ASSERT_OK(id);
  EXPECT_EQ(id->ToString(), kApi);
  EXPECT_EQ(id->service_account(), "api");
}

TEST_F(PeerVerifierTest, AcceptsExpectedIdentityInBothRoles) {
  KeyedCert leaf = MakeLeaf(now_, root_, {kApi});
  auto expected = SpiffeId::Parse(kApi);
  ASSERT_OK(expected);
  for (PeerRole role : {PeerRole::kClient, PeerRole::kServer}) {
    EXPECT_EQ(Rejection(leaf.cert.get(), nullptr, {role, expected.value()}), "");
  }
}

struct RejectCase {
  std::string name;
  std::function<UniqueX509(SystemTime now, const KeyedCert& root)> make_leaf;
  std::string reason;
};

void PrintTo(const RejectCase& c, std::ostream* os) { *os << c.name; }

class PeerVerifierRejectTest : public PeerVerifierTest,
                               public ::testing::WithParamInterface<RejectCase> {};

TEST_P(PeerVerifierRejectTest, RefusesWithReason) {
  UniqueX509 leaf = GetParam().make_leaf(now_, root_);
  std::string error = Rejection(leaf.get());
  ASSERT_NE(error, "") << "certificate was accepted";
  EXPECT_NE(error.find(GetParam().reason), std::string::npos) << error;
}

UniqueX509 LeafWith(const KeyedCert& issuer, const testing::CertSpec& spec,
                    EVP_PKEY* key = nullptr) {
  UniqueEvpPkey own = testing::MakeEcKey();
  return testing::MakeCert(spec, key ? key : own.get(), &issuer);
}

testing::CertSpec Spec(SystemTime now, std::vector<std::string> uris) {
  return testing::CertSpec{.uris = std::move(uris), .not_before = now - 1h, .not_after = now + 1h};
}

INSTANTIATE_TEST_SUITE_P(
    Table, PeerVerifierRejectTest,
    ::testing::Values(
        RejectCase{
            "several_uri_sans",
            [](SystemTime now, const KeyedCert& root) {
              return LeafWith(root, Spec(now, {kApi, "spiffe://cluster.local/ns/shop/sa/db"}));
            },
            "several URI subjectAltNames"},
        RejectCase{
            "no_san",
            [](SystemTime now, const KeyedCert& root) { return LeafWith(root, Spec(now, {})); },
            "no subjectAltName"},
        RejectCase{"dns_only_san",
                   [](SystemTime now, const KeyedCert& root) {
                     auto spec = Spec(now, {});
                     spec.dns_names = {"api.shop.svc"};
                     return LeafWith(root, spec);
                   },
                   "no URI subjectAltName"},
        RejectCase{"foreign_trust_domain",
                   [](SystemTime now, const KeyedCert& root) {
                     return LeafWith(root, Spec(now, {"spiffe://evil.org/ns/shop/sa/api"}));
                   },
                   "foreign trust domain \"evil.org\""},
        RejectCase{"nul_in_san",
                   [](SystemTime now, const KeyedCert& root) {
                     return LeafWith(root, Spec(now, {kApi + "\0.evil.org"s}));
                   },
                   "NUL byte"},
        RejectCase{"san_not_spiffe",
                   [](SystemTime now, const KeyedCert& root) {
                     return LeafWith(root, Spec(now, {"https://cluster.local/api"}));
                   },
                   "not a Ferry SPIFFE ID"},
        RejectCase{"expired",
                   [](SystemTime now, const KeyedCert& root) {
                     auto spec = Spec(now, {kApi});
                     spec.not_before = now - 48h;
                     spec.not_after = now - 24h;
                     return LeafWith(root, spec);
                   },
                   "certificate has expired"},
        RejectCase{"not_yet_valid",
                   [](SystemTime now, const KeyedCert& root) {
                     auto spec = Spec(now, {kApi});
                     spec.not_before = now + 1h;
                     spec.not_after = now + 25h;
                     return LeafWith(root, spec);
                   },
                   "certificate is not yet valid"},
        RejectCase{"self_signed_leaf",
                   [](SystemTime now, const KeyedCert&) {
                     UniqueEvpPkey key = testing::MakeEcKey();
                     return testing::MakeCert(Spec(now, {kApi}), key.get(), nullptr);
                   },
                   "self-signed certificate"},
        RejectCase{"signed_by_unknown_ca",
                   [](SystemTime now, const KeyedCert&) {
                     KeyedCert other = MakeCa(now, "other root");
                     return LeafWith(other, Spec(now, {kApi}));
                   },
                   "unable to get local issuer certificate"},
        RejectCase{"leaf_is_ca",
                   [](SystemTime now, const KeyedCert& root) {
                     auto spec = Spec(now, {kApi});
                     spec.is_ca = true;
                     return LeafWith(root, spec);
                   },
                   "leaf certificate is a CA"},
        RejectCase{"root_presented_as_leaf",
                   [](SystemTime, const KeyedCert& root) { return ShareX509(root.cert.get()); },
                   "leaf certificate is a CA"},
        RejectCase{"rsa_key",
                   [](SystemTime now, const KeyedCert& root) {
                     UniqueEvpPkey rsa = testing::MakeRsaKey();
                     return LeafWith(root, Spec(now, {kApi}), rsa.get());
                   },
                   "not ECDSA P-256"},
        RejectCase{"p384_key",
                   [](SystemTime now, const KeyedCert& root) {
                     UniqueEvpPkey key = testing::MakeEcKey("P-384");
                     return LeafWith(root, Spec(now, {kApi}), key.get());
                   },
                   "is not P-256"}),
    [](const ::testing::TestParamInfo<RejectCase>& info) { return info.param.name; });

TEST_F(PeerVerifierTest, RefusesMissingCertificate) {
  EXPECT_NE(Rejection(nullptr).find("no peer certificate"), std::string::npos);
}

TEST_F(PeerVerifierTest, RefusesDifferentServiceAccountThanExpected) {
  KeyedCert leaf = MakeLeaf(now_, root_, {"spiffe://cluster.local/ns/shop/sa/db"});
  auto expected = SpiffeId::Parse(kApi);
  ASSERT_OK(expected);
  std::string error = Rejection(leaf.cert.get(), nullptr, {PeerRole::kServer, expected.value()});
  EXPECT_NE(error.find("is not the expected spiffe://cluster.local/ns/shop/sa/api"),
            std::string::npos)
      << error;
}

TEST_F(PeerVerifierTest, ExtendedKeyUsageMustFitThePeersRole) {
  auto spec = Spec(now_, {kApi});
  spec.ext_key_usage = "serverAuth";
  UniqueX509 server_only = LeafWith(root_, spec);
  EXPECT_EQ(Rejection(server_only.get(), nullptr, {PeerRole::kServer, std::nullopt}), "");
  std::string as_client = Rejection(server_only.get(), nullptr, {PeerRole::kClient, std::nullopt});
  EXPECT_NE(as_client.find("unsuitable certificate purpose"), std::string::npos) << as_client;
}

TEST_F(PeerVerifierTest, ValidityFollowsTheInjectedClock) {
  KeyedCert leaf = MakeLeaf(now_, root_, {kApi});  // valid now-1h .. now+1h
  PeerVerifier verifier = Verifier({root_.cert.get()});
  EXPECT_OK(verifier.Verify(leaf.cert.get(), nullptr, {}));
  now_ += 2h;  // the verifier's clock reads now_ on every call
  auto late = verifier.Verify(leaf.cert.get(), nullptr, {});
  ASSERT_FALSE(late.ok());
  EXPECT_NE(late.error().Message().find("expired"), std::string::npos);
}

TEST_F(PeerVerifierTest, IntermediateMustBeSentInTheChain) {
  KeyedCert intermediate = MakeCa(now_, "intermediate", &root_);
  KeyedCert leaf = MakeLeaf(now_, intermediate, {kApi});
  auto chain = StackOf({intermediate.cert.get()});
  EXPECT_EQ(Rejection(leaf.cert.get(), chain.get()), "");
  // Chain as a client sees it from SSL_get_peer_cert_chain: leaf included.
  auto with_leaf = StackOf({leaf.cert.get(), intermediate.cert.get()});
  EXPECT_EQ(Rejection(leaf.cert.get(), with_leaf.get()), "");
  EXPECT_NE(Rejection(leaf.cert.get(), nullptr).find("unable to get local issuer"),
            std::string::npos);
}

TEST_F(PeerVerifierTest, TwoRootsInBundleAcceptLeavesFromEither) {
  KeyedCert new_root = MakeCa(now_, "new root");
  KeyedCert stranger = MakeCa(now_, "stranger");
  PeerVerifier verifier = Verifier({root_.cert.get(), new_root.cert.get()});
  KeyedCert old_leaf = MakeLeaf(now_, root_, {kApi});
  KeyedCert new_leaf = MakeLeaf(now_, new_root, {kApi});
  KeyedCert stranger_leaf = MakeLeaf(now_, stranger, {kApi});
  EXPECT_OK(verifier.Verify(old_leaf.cert.get(), nullptr, {}));
  EXPECT_OK(verifier.Verify(new_leaf.cert.get(), nullptr, {}));
  EXPECT_ERR(verifier.Verify(stranger_leaf.cert.get(), nullptr, {}));
}

TEST(TrustBundleTest, RefusesNonCaAndRoundTripsPem) {
  SystemTime now = std::chrono::system_clock::now();
  KeyedCert a = MakeCa(now, "a");
  KeyedCert b = MakeCa(now, "b");
  KeyedCert leaf = MakeLeaf(now, a, {kApi});
  auto bundle = TrustBundle::FromPem(testing::ToPem(a.cert.get()) + testing::ToPem(b.cert.get()));
  ASSERT_OK(bundle);
  EXPECT_EQ(bundle->roots().size(), 2u);
  auto pem = bundle->ToPem();
  ASSERT_OK(pem);
  auto again = TrustBundle::FromPem(pem.value());
  ASSERT_OK(again);
  EXPECT_EQ(again->roots().size(), 2u);
  EXPECT_ERR(TrustBundle::FromPem(testing::ToPem(leaf.cert.get())));
  KeyedCert intermediate = MakeCa(now, "int", &a);
  EXPECT_ERR(TrustBundle::FromPem(testing::ToPem(intermediate.cert.get())));
  EXPECT_ERR(TrustBundle::FromPem("not pem"));
}

}  // namespace
}  // namespace ferry::identity
