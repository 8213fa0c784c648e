// Compilation: typed resources + mesh options -> one self-contained ferry.v1.PolicySnapshot.
// Cross-resource checks happen here (a rule naming a route that does not exist, duplicates,
// conflicting splits); each failure rejects that one resource and the rest still compiles.
#pragma once

#include <string>
#include <vector>

#include "controlplane/smi/resources.h"
#include "ferry/v1/policy.pb.h"

namespace ferry::smi {

struct MeshOptions {
  std::string mesh_name = "ferry";
  std::string trust_domain = "cluster.local";
  bool permissive = false;   // plaintext from outside the mesh is let in
  bool deny_egress = false;  // connections to non-mesh destinations are refused
  std::vector<std::string> inbound_exempt_ips;
};

struct CompileResult {
  v1::PolicySnapshot snapshot;  // version left 0: the publisher (controller, PolicyStore) sets it
  // The ResourceSet's parse rejections followed by those found while compiling.
  std::vector<Rejection> rejections;
};

// Rules of compilation:
// - TrafficTarget: every rule must name an HTTPRouteGroup/TCPRoute in the target's namespace and
//   every name in a rule's `matches` must exist in it; otherwise the *whole target* is rejected
//   (fail closed: a target is applied as written or not at all, never half-applied).
//   A rule without `matches` takes all matches of its route.
// - TrafficSplit: a second split for the same root service in a namespace is rejected.
// - The same kind/namespace/name defined twice: the first definition wins, the others are rejected.
// - Services become v1::Service; their endpoint_uids are the given workloads in the same namespace
//   whose labels contain the service's selector. Workloads are copied into the snapshot as given.
CompileResult Compile(const ResourceSet& resources, const MeshOptions& mesh,
                      const std::vector<v1::Workload>& workloads = {});

}  // namespace ferry::smi
