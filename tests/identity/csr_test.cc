#include "identity/csr.h"

#include <gtest/gtest.h>

#include "cert_factory.h"
#include "identity/pem.h"
#include "identity/x509_inspect.h"
#include "test_result.h"

namespace ferry::identity {
namespace {

const std::string kApi = "spiffe://cluster.local/ns/shop/sa/api";

TEST(WorkloadKeyTest, CsrCarriesTheIdentityAndIsSignedByTheKey) {
  auto key = WorkloadKey::Generate();
  ASSERT_OK(key);
  EXPECT_OK(RequireP256Key(key->native_handle()));
  auto csr_pem = key->CreateCsrPem(SpiffeId::Parse(kApi).value());
  ASSERT_OK(csr_pem);
  EXPECT_NE(csr_pem->find("-----BEGIN CERTIFICATE REQUEST-----"), std::string::npos);
  EXPECT_EQ(csr_pem->find("PRIVATE KEY"), std::string::npos);

  auto csr = CsrFromPem(csr_pem.value());
  ASSERT_OK(csr);
  EXPECT_EQ(X509_REQ_verify(csr->get(), X509_REQ_get0_pubkey(csr->get())), 1);
  EXPECT_EQ(EVP_PKEY_eq(X509_REQ_get0_pubkey(csr->get()), key->native_handle()), 1);
  auto san = CsrUriSan(csr->get());
  ASSERT_OK(san);
  EXPECT_EQ(san.value(), kApi);
}

TEST(WorkloadKeyTest, EachKeyIsFresh) {
  auto a = WorkloadKey::Generate();
  auto b = WorkloadKey::Generate();
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_NE(EVP_PKEY_eq(a->native_handle(), b->native_handle()), 1);
}

TEST(WorkloadKeyTest, PrivateKeyPemRoundTripsAndRejectsForeignKeys) {
  auto key = WorkloadKey::Generate();
  ASSERT_OK(key);
  auto pem = key->PrivateKeyPem();
  ASSERT_OK(pem);
  EXPECT_NE(pem->find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
  auto reloaded = WorkloadKey::FromPem(pem.value());
  ASSERT_OK(reloaded);
  EXPECT_EQ(EVP_PKEY_eq(reloaded->native_handle(), key->native_handle()), 1);

  UniqueEvpPkey rsa = testing::MakeRsaKey();
  auto refused = WorkloadKey::FromPem(testing::ToPem(rsa.get()));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().Message().find("not ECDSA P-256"), std::string::npos);
  EXPECT_ERR(
      WorkloadKey::FromPem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"));
}

TEST(WorkloadKeyTest, MatchesOnlyItsOwnCertificate) {
  SystemTime now = std::chrono::system_clock::now();
  testing::KeyedCert root = testing::MakeCa(now, "root");
  testing::KeyedCert leaf = testing::MakeLeaf(now, root, {kApi});
  auto key = WorkloadKey::Generate();
  ASSERT_OK(key);
  auto mismatch = key->MatchesCertificate(leaf.cert.get());
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.error().Message().find("does not match"), std::string::npos);
  EXPECT_ERR(key->MatchesCertificate(nullptr));
}

TEST(PemTest, ReadsChainsAndRefusesGarbage) {
  SystemTime now = std::chrono::system_clock::now();
  testing::KeyedCert a = testing::MakeCa(now, "a");
  testing::KeyedCert b = testing::MakeCa(now, "b", &a);
  std::string two = testing::ToPem(b.cert.get()) + testing::ToPem(a.cert.get());
  auto certs = CertificatesFromPem(two);
  ASSERT_OK(certs);
  ASSERT_EQ(certs->size(), 2u);
  EXPECT_EQ(X509_cmp(certs->at(0).get(), b.cert.get()), 0);
  EXPECT_ERR(CertificateFromPem(two));  // exactly one expected
  EXPECT_ERR(CertificatesFromPem(""));
  std::string corrupt = testing::ToPem(a.cert.get());
  corrupt[corrupt.size() / 2] = '!';
  EXPECT_ERR(CertificatesFromPem(corrupt));
}

}  // namespace
}  // namespace ferry::identity
