// The PKI of a local cluster, made by `ferryctl local up` the way an operator brings one to a
// real cluster: a CA the controller signs workload certificates with (--ca-cert/--ca-key), the
// trust bundle agents verify the controller against, and one bootstrap token per node (the node
// credential: a node can only obtain identities of pods scheduled on it).
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace ferry::local {

struct LocalPki {
  std::string dir;
  std::string ca_cert;      // <dir>/ca.pem: the root; also the agents' trust bundle
  std::string ca_key;       // <dir>/ca.key (0600)
  std::string node_tokens;  // <dir>/node-tokens.json (0600): {"node-1": "<token>", ...}
  std::string NodeTokenFile(const std::string& node) const { return dir + "/" + node + ".token"; }
};

// The paths of the PKI under `dir` (whether or not it exists yet).
LocalPki PkiPaths(const std::string& dir);

// Creates the CA (ECDSA P-256 root for `trust_domain`) and a random token per node, files 0600
// in a 0700 directory. Refuses to overwrite an existing CA.
Result<LocalPki> CreateLocalPki(const std::string& dir, const std::string& trust_domain,
                                const std::vector<std::string>& nodes);

}  // namespace ferry::local
