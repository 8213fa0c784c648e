// CertificateAuthority loaded from PEM: intermediates, roots, rotation, persistence.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "cert_factory.h"
#include "identity/certificate_authority.h"
#include "identity/csr.h"
#include "identity/peer_verifier.h"
#include "identity/pem.h"
#include "test_result.h"

namespace ferry::identity {
namespace {

using testing::KeyedCert;
using testing::MakeCa;
using testing::ToPem;

const std::string kApi = "spiffe://cluster.local/ns/shop/sa/api";

Result<void> AllowAll(const std::string&, const SpiffeId&) { return Ok(); }

class CaLoadingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ferry-idtest-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& contents) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << contents;
    return path;
  }

  CaOptions Options() {
    return CaOptions{.trust_domain = "cluster.local", .clock = [this] { return now_; }};
  }

  // Issues a leaf for kApi and verifies it against the CA's own bundle, sending `chain_pem`.
  Result<SpiffeId> IssueAndVerify(const CertificateAuthority& ca, bool send_chain = true) {
    auto key = WorkloadKey::Generate();
    if (!key.ok()) return key.error();
    auto csr = key->CreateCsrPem(SpiffeId::Parse(kApi).value());
    if (!csr.ok()) return csr.error();
    auto issued = ca.Sign(csr.value(), {.node = "n"}, AllowAll);
    if (!issued.ok()) return issued.error();
    UniqueX509 leaf = testing::FromPem(issued->certificate_pem);
    UniqueX509Stack chain(sk_X509_new_null());
    if (send_chain && !issued->chain_pem.empty()) {
      auto certs = CertificatesFromPem(issued->chain_pem);
      if (!certs.ok()) return certs.error();
      for (auto& c : certs.value()) sk_X509_push(chain.get(), c.release());
    }
    auto verifier =
        PeerVerifier::Create(ca.trust_bundle().Clone(),
                             {.trust_domain = "cluster.local", .clock = [this] { return now_; }});
    if (!verifier.ok()) return verifier.error();
    return verifier->Verify(leaf.get(), chain.get(), {});
  }

  SystemTime now_ = std::chrono::system_clock::now();
  std::filesystem::path dir_;
};

TEST_F(CaLoadingTest, IntermediateFromFilesIssuesLeavesThatChainThroughIt) {
  KeyedCert root = MakeCa(now_, "corp root");
  KeyedCert intermediate = MakeCa(now_, "mesh intermediate", &root);
  std::string cert = Write("ca.crt", ToPem(intermediate.cert.get()) + ToPem(root.cert.get()));
  std::string key = Write("ca.key", ToPem(intermediate.key.get()));
  auto ca = CertificateAuthority::FromFiles(Options(), cert, key);
  ASSERT_OK(ca);
  // Agents get the root only; leaves carry the intermediate.
  ASSERT_EQ(ca->trust_bundle().roots().size(), 1u);
  EXPECT_EQ(X509_cmp(ca->trust_bundle().roots()[0].get(), root.cert.get()), 0);
  auto id = IssueAndVerify(ca.value());
  ASSERT_OK(id);
  EXPECT_EQ(id->ToString(), kApi);
  auto without_chain = IssueAndVerify(ca.value(), /*send_chain=*/false);
  ASSERT_FALSE(without_chain.ok());
  EXPECT_NE(without_chain.error().Message().find("unable to get local issuer"), std::string::npos);
}

TEST_F(CaLoadingTest, RootMayComeFromASeparateFile) {
  KeyedCert root = MakeCa(now_, "corp root");
  KeyedCert intermediate = MakeCa(now_, "mesh intermediate", &root);
  std::string cert = Write("ca.crt", ToPem(intermediate.cert.get()));
  std::string key = Write("ca.key", ToPem(intermediate.key.get()));
  std::string roots = Write("roots.crt", ToPem(root.cert.get()));
  auto ca = CertificateAuthority::FromFiles(Options(), cert, key, roots);
  ASSERT_OK(ca);
  EXPECT_OK(IssueAndVerify(ca.value()));

  auto rootless = CertificateAuthority::FromFiles(Options(), cert, key);
  ASSERT_FALSE(rootless.ok());
  EXPECT_NE(rootless.error().Message().find("no root"), std::string::npos);
}

TEST_F(CaLoadingTest, RefusesMismatchedKeyNonCaAndMissingFiles) {
  KeyedCert root = MakeCa(now_, "root");
  KeyedCert other = MakeCa(now_, "other");
  auto mismatched =
      CertificateAuthority::FromPem(Options(), ToPem(root.cert.get()), ToPem(other.key.get()));
  ASSERT_FALSE(mismatched.ok());
  EXPECT_NE(mismatched.error().Message().find("does not match"), std::string::npos);

  KeyedCert leaf = testing::MakeLeaf(now_, root, {kApi});
  auto not_ca = CertificateAuthority::FromPem(
      Options(), ToPem(leaf.cert.get()) + ToPem(root.cert.get()), ToPem(leaf.key.get()));
  ASSERT_FALSE(not_ca.ok());
  EXPECT_NE(not_ca.error().Message().find("CA:TRUE"), std::string::npos);

  auto missing = CertificateAuthority::FromFiles(Options(), (dir_ / "nope.crt").string(),
                                                 (dir_ / "nope.key").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().Message().find("nope.crt"), std::string::npos);

  auto garbage = CertificateAuthority::FromPem(Options(), "garbage", ToPem(root.key.get()));
  EXPECT_ERR(garbage);
}

TEST_F(CaLoadingTest, RotatedRootKeepsOldLeavesVerifying) {
  auto old_ca = CertificateAuthority::CreateSelfSigned(Options());
  ASSERT_OK(old_ca);
  auto old_root_pem = old_ca->SigningCertificatePem();
  ASSERT_OK(old_root_pem);
  KeyedCert new_root = MakeCa(now_, "new root");
  auto new_ca = CertificateAuthority::FromPem(Options(), ToPem(new_root.cert.get()),
                                              ToPem(new_root.key.get()), old_root_pem.value());
  ASSERT_OK(new_ca);
  EXPECT_EQ(new_ca->trust_bundle().roots().size(), 2u);

  // A leaf from the old CA, checked with the new CA's bundle (what agents hold mid-rotation).
  auto key = WorkloadKey::Generate();
  ASSERT_OK(key);
  auto csr = key->CreateCsrPem(SpiffeId::Parse(kApi).value());
  ASSERT_OK(csr);
  auto old_leaf = old_ca->Sign(csr.value(), {.node = "n"}, AllowAll);
  ASSERT_OK(old_leaf);
  auto verifier =
      PeerVerifier::Create(new_ca->trust_bundle().Clone(), {.trust_domain = "cluster.local"});
  ASSERT_OK(verifier);
  UniqueX509 leaf = testing::FromPem(old_leaf->certificate_pem);
  EXPECT_OK(verifier->Verify(leaf.get(), nullptr, {}));
  EXPECT_OK(IssueAndVerify(new_ca.value()));
}

TEST_F(CaLoadingTest, PersistedSelfGeneratedCaReloadsAsTheSameRoot) {
  auto ca = CertificateAuthority::CreateSelfSigned(Options());
  ASSERT_OK(ca);
  auto cert = ca->SigningCertificatePem();
  auto key = ca->SigningKeyPem();
  ASSERT_OK(cert);
  ASSERT_OK(key);
  auto reloaded = CertificateAuthority::FromPem(Options(), cert.value(), key.value());
  ASSERT_OK(reloaded);
  EXPECT_EQ(X509_cmp(reloaded->signing_certificate(), ca->signing_certificate()), 0);
  EXPECT_OK(IssueAndVerify(reloaded.value()));
}

}  // namespace
}  // namespace ferry::identity
