#include "vmtests/mesh/test_certs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "identity/certificate_authority.h"
#include "identity/certificate_builder.h"
#include "identity/csr.h"
#include "identity/pem.h"
#include "identity/x509_inspect.h"

namespace ferry::vmtest {
namespace {

using identity::CertificateAuthority;
using identity::CertificateLifetime;
using identity::SpiffeId;

Result<void> WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  // O_TRUNC + explicit fchmod: a rerun into the same directory replaces files and their mode.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoError("open " + path);
  bool ok = ::fchmod(fd, mode) == 0;
  size_t done = 0;
  while (ok && done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      ok = false;
    else
      done += static_cast<size_t>(n);
  }
  int saved = errno;
  ::close(fd);
  if (!ok) return Error{saved, "write " + path};
  return Ok();
}

identity::CaOptions CaFor(const std::string& trust_domain) {
  identity::CaOptions options;
  options.trust_domain = trust_domain;
  return options;
}

std::string Stem(const std::string& dir, const std::string& kind, const TestIdentity& id) {
  return dir + "/" + kind + "-" + id.ns + "-" + id.sa;
}

// Writes leaf(+chain) and key next to each other and returns their paths.
Result<CertFiles> WritePair(const std::string& stem, const std::string& cert_pem,
                            const std::string& key_pem, std::string ca_path) {
  CertFiles files{stem + ".pem", stem + "-key.pem", std::move(ca_path)};
  FERRY_TRY(WriteFile(files.cert_path, cert_pem, 0644));
  FERRY_TRY(WriteFile(files.key_path, key_pem, 0600));
  return files;
}

// The CA's own issuance path: a CSR from a fresh WorkloadKey, signed with an authorizer that
// allows everything (the node name is irrelevant for these files).
Result<CertFiles> IssueThroughCa(const CertificateAuthority& ca, const std::string& stem,
                                 const SpiffeId& id, std::string ca_path) {
  auto key = identity::WorkloadKey::Generate();
  if (!key.ok()) return key.error();
  auto csr = key->CreateCsrPem(id);
  if (!csr.ok()) return csr.error();
  auto allow_all = [](const std::string&, const SpiffeId&) -> Result<void> { return Ok(); };
  identity::IssuanceRequest request;
  request.node = "mtls-test-node";
  auto issued = ca.Sign(csr.value(), request, allow_all);
  if (!issued.ok()) return issued.error();
  auto key_pem = key->PrivateKeyPem();
  if (!key_pem.ok()) return key_pem.error();
  return WritePair(stem, issued->certificate_pem + issued->chain_pem, key_pem.value(),
                   std::move(ca_path));
}

struct LeafSigner {
  X509* issuer_cert;  // nullptr: self-signed
  EVP_PKEY* issuer_key;
};

// A leaf with the same extensions CertificateAuthority::BuildLeaf puts in mesh leaves, for the
// cases the CA's API refuses to make (self-signed, validity in the past).
Result<identity::UniqueX509> BuildMeshLikeLeaf(EVP_PKEY* key, const SpiffeId& id,
                                               const CertificateLifetime& lifetime,
                                               const LeafSigner& signer) {
  auto subject = identity::MakeName({{"O", "ferry"}});
  if (!subject.ok()) return subject.error();
  const X509_NAME* issuer_name =
      signer.issuer_cert ? X509_get_subject_name(signer.issuer_cert) : subject->get();
  auto cert = identity::NewCertificate(subject->get(), issuer_name, key, lifetime);
  if (!cert.ok()) return cert.error();
  X509* leaf = cert->get();
  X509* issuer = signer.issuer_cert ? signer.issuer_cert : leaf;
  FERRY_TRY(identity::AddExtension(leaf, issuer, NID_basic_constraints, "critical,CA:FALSE"));
  FERRY_TRY(identity::AddExtension(leaf, issuer, NID_key_usage, "critical,digitalSignature"));
  FERRY_TRY(identity::AddExtension(leaf, issuer, NID_ext_key_usage, "serverAuth,clientAuth"));
  FERRY_TRY(identity::AddExtension(leaf, issuer, NID_subject_key_identifier, "hash"));
  FERRY_TRY(identity::AddExtension(leaf, issuer, NID_authority_key_identifier, "keyid,issuer"));
  auto san = identity::UriSubjectAltName(id.ToString());
  if (!san.ok()) return san.error();
  FERRY_TRY(identity::AddSubjectAltName(leaf, san->get()));
  FERRY_TRY(identity::SignCertificate(leaf, signer.issuer_key));
  return cert;
}

// The signing certificate (first in the file), the chain to send after a leaf (later certificates
// that are not roots), and the key, as FromPem reads a CA.
struct LoadedCa {
  identity::UniqueX509 cert;
  std::string chain_pem;
  identity::UniqueEvpPkey key;
};

Result<LoadedCa> LoadCaFiles(const std::string& cert_path, const std::string& key_path) {
  auto cert_pem = identity::ReadTextFile(cert_path);
  if (!cert_pem.ok()) return cert_pem.error();
  auto key_pem = identity::ReadTextFile(key_path);
  if (!key_pem.ok()) return key_pem.error();
  auto certs = identity::CertificatesFromPem(cert_pem.value());
  if (!certs.ok()) return certs.error();
  auto key = identity::PrivateKeyFromPem(key_pem.value());
  if (!key.ok()) return key.error();
  LoadedCa ca{std::move(certs->front()), "", std::move(key).value()};
  for (size_t i = 1; i < certs->size(); ++i) {
    if (identity::IsSelfSigned((*certs)[i].get())) continue;
    auto pem = identity::CertificateToPem((*certs)[i].get());
    if (!pem.ok()) return pem.error();
    ca.chain_pem += pem.value();
  }
  return ca;
}

Result<CertFiles> WriteBuiltLeaf(const std::string& stem, const SpiffeId& id,
                                 const CertificateLifetime& lifetime, const LoadedCa* ca,
                                 std::string ca_path) {
  auto key = identity::WorkloadKey::Generate();
  if (!key.ok()) return key.error();
  LeafSigner signer{ca ? ca->cert.get() : nullptr, ca ? ca->key.get() : key->native_handle()};
  auto leaf = BuildMeshLikeLeaf(key->native_handle(), id, lifetime, signer);
  if (!leaf.ok()) return leaf.error();
  auto leaf_pem = identity::CertificateToPem(leaf->get());
  if (!leaf_pem.ok()) return leaf_pem.error();
  auto key_pem = key->PrivateKeyPem();
  if (!key_pem.ok()) return key_pem.error();
  return WritePair(stem, leaf_pem.value() + (ca ? ca->chain_pem : ""), key_pem.value(),
                   std::move(ca_path));
}

}  // namespace

Result<CertFiles> WriteTestCa(const std::string& dir, const std::string& name,
                              const std::string& trust_domain) {
  auto ca = CertificateAuthority::CreateSelfSigned(CaFor(trust_domain));
  if (!ca.ok()) return ca.error();
  auto cert_pem = ca->SigningCertificatePem();
  if (!cert_pem.ok()) return cert_pem.error();
  auto key_pem = ca->SigningKeyPem();
  if (!key_pem.ok()) return key_pem.error();
  CertFiles files{dir + "/" + name + ".pem", dir + "/" + name + ".key", dir + "/" + name + ".pem"};
  FERRY_TRY(WriteFile(files.cert_path, cert_pem.value(), 0644));
  FERRY_TRY(WriteFile(files.key_path, key_pem.value(), 0600));
  return files;
}

Result<CertFiles> WriteForeignDomainLeaf(const std::string& dir, const TestIdentity& id,
                                         const std::string& foreign_trust_domain) {
  auto spiffe = SpiffeId::Make(foreign_trust_domain, id.ns, id.sa);
  if (!spiffe.ok()) return spiffe.error();
  std::string stem = Stem(dir, "foreign", id);
  auto root = WriteTestCa(dir, "foreign-" + id.ns + "-" + id.sa + "-ca", foreign_trust_domain);
  if (!root.ok()) return root.error();
  auto ca =
      CertificateAuthority::FromFiles(CaFor(foreign_trust_domain), root->cert_path, root->key_path);
  if (!ca.ok()) return ca.error();
  return IssueThroughCa(ca.value(), stem, spiffe.value(), root->cert_path);
}

Result<CertFiles> WriteSelfSignedLeaf(const std::string& dir, const TestIdentity& id,
                                      const std::string& trust_domain) {
  auto spiffe = SpiffeId::Make(trust_domain, id.ns, id.sa);
  if (!spiffe.ok()) return spiffe.error();
  auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  CertificateLifetime lifetime{now - std::chrono::minutes(5), now + std::chrono::hours(24)};
  return WriteBuiltLeaf(Stem(dir, "selfsigned", id), spiffe.value(), lifetime, nullptr, "");
}

Result<CertFiles> WriteLeafFromCa(const std::string& dir, const TestIdentity& id,
                                  const std::string& trust_domain, const std::string& ca_cert_path,
                                  const std::string& ca_key_path) {
  auto spiffe = SpiffeId::Make(trust_domain, id.ns, id.sa);
  if (!spiffe.ok()) return spiffe.error();
  auto ca = CertificateAuthority::FromFiles(CaFor(trust_domain), ca_cert_path, ca_key_path);
  if (!ca.ok()) return ca.error();
  return IssueThroughCa(ca.value(), Stem(dir, "leaf", id), spiffe.value(), ca_cert_path);
}

Result<CertFiles> WriteExpiredLeafFromCa(const std::string& dir, const TestIdentity& id,
                                         const std::string& trust_domain,
                                         const std::string& ca_cert_path,
                                         const std::string& ca_key_path,
                                         std::chrono::seconds expired_for) {
  // Built by hand: the CA refuses to issue with a clock before its own notBefore, and a fresh
  // cluster CA is only minutes old.
  auto spiffe = SpiffeId::Make(trust_domain, id.ns, id.sa);
  if (!spiffe.ok()) return spiffe.error();
  auto ca = LoadCaFiles(ca_cert_path, ca_key_path);
  if (!ca.ok()) return ca.error();
  auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  CertificateLifetime lifetime{now - expired_for - std::chrono::hours(1), now - expired_for};
  return WriteBuiltLeaf(Stem(dir, "expired", id), spiffe.value(), lifetime, &ca.value(),
                        ca_cert_path);
}

}  // namespace ferry::vmtest
