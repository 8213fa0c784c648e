// One reload of the manifest directory, from parsed resources to the policy every node gets:
// namespace membership, compilation, last-good retention of broken resources, and the
// rejection report. Pure logic (no I/O, no threads), so it is unit-tested directly.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controlplane/server/last_good.h"
#include "controlplane/server/workload_source.h"
#include "controlplane/smi/compile.h"
#include "controlplane/smi/resources.h"
#include "ferry/v1/policy.pb.h"

namespace ferry::controlplane {

// A rejection as the controller reports it (log, status file).
struct ReportedRejection {
  smi::Rejection rejection;
  // Set when this resource's last good version stays in force; where that version was read.
  std::optional<smi::SourceLocation> kept_from;
  // For a document too broken to name: what its file still enforces from earlier reads.
  std::vector<KeptResource> kept_from_file;

  // "a.yaml:3: TrafficTarget shop/t rejected: <reason>; last good version (a.yaml:3) stays in force"
  std::string Message() const;
};

struct CompiledPolicy {
  v1::PolicySnapshot base;  // version 0; what every node gets before per-node additions
  std::map<std::string, std::string> node_ips;
  std::set<std::string> nodes;  // nodes that run monitored workloads or have a known IP
  bool exempt_node_ip = false;
  std::set<std::string> monitored_namespaces;
  std::vector<ReportedRejection> rejections;
  std::vector<KeptResource> kept;
};

struct CompilerOptions {
  smi::MeshOptions mesh;
  // Adds each node's own IP (from the workload inventory) to that node's inbound exemptions, so
  // kubelet probes reach its pods. Off unless asked for: an exemption is a hole.
  bool exempt_node_ip = false;
};

// The snapshot for one node (version 0). Today the nodes differ only by the optional node-IP
// exemption; per-node trimming belongs here.
v1::PolicySnapshot BuildNodeSnapshot(const CompiledPolicy& policy, const std::string& node);

class PolicyCompiler {
 public:
  explicit PolicyCompiler(CompilerOptions options) : options_(std::move(options)) {}

  // Not thread-safe: the controller calls it from its reload path only.
  CompiledPolicy Compile(smi::ResourceSet resources, const WorkloadInventory& inventory);

 private:
  CompilerOptions options_;
  LastGoodStore last_good_;
};

}  // namespace ferry::controlplane
