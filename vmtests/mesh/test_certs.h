// PEM files for the mTLS vmtests' negative cases: certificates a well-behaved mesh must refuse
// (foreign trust domain, self-signed, expired) or must judge by policy (a real cluster leaf for an
// identity the policy does not allow). Leaves carry what the cluster CA puts in its own leaves
// (CA:FALSE, digitalSignature, serverAuth+clientAuth EKU, one SPIFFE URI SAN, ECDSA P-256).
// Keys are written 0600. File names are <dir>/<kind>-<ns>-<sa>.pem and ...-key.pem, so several
// identities can live in one directory.
#pragma once

#include <chrono>
#include <string>

#include "common/result.h"

namespace ferry::vmtest {

struct CertFiles {
  std::string cert_path;  // the leaf, followed by the issuing chain when there is one
  std::string key_path;   // its private key (PKCS#8 PEM)
  std::string ca_path;    // the root that verifies cert_path, when this call made or used one
};

struct TestIdentity {
  std::string ns;
  std::string sa;
};

// A fresh self-generated root CA for `trust_domain`, as <dir>/<name>.pem and <dir>/<name>.key
// (the same layout `ca.pem`/`ca.key` a cluster uses). For self-tests and for a second trust root.
Result<CertFiles> WriteTestCa(const std::string& dir, const std::string& name,
                              const std::string& trust_domain);

// (a) spiffe://<foreign_trust_domain>/ns/<ns>/sa/<sa> issued by a freshly generated foreign root
// (written as <dir>/foreign-<ns>-<sa>-ca.pem; returned in ca_path).
Result<CertFiles> WriteForeignDomainLeaf(const std::string& dir, const TestIdentity& id,
                                         const std::string& foreign_trust_domain = "other.domain");

// (b) A self-signed leaf (issuer == subject, CA:FALSE) claiming spiffe://<trust_domain>/ns/..
// of the real trust domain. ca_path is empty: nothing legitimate verifies it.
Result<CertFiles> WriteSelfSignedLeaf(const std::string& dir, const TestIdentity& id,
                                      const std::string& trust_domain);

// (c) A leaf for <id> signed by the real CA loaded from `ca_cert_path`/`ca_key_path` (e.g. the
// cluster's ca.pem/ca.key). `trust_domain` must be the cluster's. ca_path = ca_cert_path.
Result<CertFiles> WriteLeafFromCa(const std::string& dir, const TestIdentity& id,
                                  const std::string& trust_domain, const std::string& ca_cert_path,
                                  const std::string& ca_key_path);

// (d) Like (c), but the leaf expired `expired_for` ago (it was valid for one hour before that).
Result<CertFiles> WriteExpiredLeafFromCa(const std::string& dir, const TestIdentity& id,
                                         const std::string& trust_domain,
                                         const std::string& ca_cert_path,
                                         const std::string& ca_key_path,
                                         std::chrono::seconds expired_for = std::chrono::hours(2));

}  // namespace ferry::vmtest
