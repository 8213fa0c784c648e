// Bounded-cardinality names for the two ends of a connection: the workload (a pod's owner, not
// the pod), its namespace and its service account. Pod names and addresses never become labels.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ferry/v1/policy.pb.h"

namespace ferry::metrics {

inline constexpr std::string_view kUnknown = "unknown";

// One end of a connection or request, as metric labels. Empty fields render as "unknown".
struct Peer {
  std::string workload;
  std::string ns;
  std::string principal;  // the service account
};

// The workload a pod belongs to, from the names Kubernetes (and `ferryctl local`) give pods:
//   <deployment>-<pod-template-hash>-<5 chars>  → <deployment>
//   <daemonset|replicaset|job>-<5 chars>        → the owner
//   <statefulset or local deployment>-<ordinal> → the owner
// The generated suffixes use Kubernetes' vowel-free alphabet, so ordinary words ("web-proxy")
// are kept whole. Any other name is its own workload.
std::string WorkloadFromPodName(std::string_view pod_name);

// Peer labels of the mesh workloads in a PolicySnapshot, by IP, rebuilt once per snapshot
// version: lets an agent name the far end of a connection to another node.
class WorkloadDirectory {
 public:
  std::optional<Peer> Lookup(const v1::PolicySnapshot& snapshot, uint32_t ip);
  // The one workload that runs as service account ns/sa, or "" when none or several do (a
  // tunnel's certificate names only the identity, not the pod).
  std::string WorkloadOf(const v1::PolicySnapshot& snapshot, std::string_view ns, std::string_view sa);

 private:
  void BuildLocked(const v1::PolicySnapshot& snapshot);

  std::mutex mu_;
  bool built_ = false;
  uint64_t version_ = 0;
  std::unordered_map<uint32_t, Peer> by_ip_;
  std::map<std::pair<std::string, std::string>, std::string, std::less<>> by_identity_;  // "" = ambiguous
};

// Labels for one end of a connection as the dispatcher names it (ConnectionInfo::source and
// ::destination): a pod key or service "ns/name" (→ its workload), an endpoint "a.b.c.d:port"
// (→ the snapshot's workload at that address, if any), or a SPIFFE id (→ the workload of that
// identity when exactly one workload runs as it; the certificate names only ns/sa). `ns` and `sa` win over what the directory says when set.
Peer PeerFor(std::string_view name, std::string_view ns, std::string_view sa, WorkloadDirectory& directory,
             const v1::PolicySnapshot& snapshot);

}  // namespace ferry::metrics
