#include "controlplane/server/policy_compiler.h"

#include <algorithm>

#include "controlplane/server/mesh_membership.h"

namespace ferry::controlplane {
namespace {

std::vector<ReportedRejection> Report(const std::vector<smi::Rejection>& rejections,
                                      const std::vector<KeptResource>& kept) {
  std::vector<ReportedRejection> out;
  for (const smi::Rejection& r : rejections) {
    ReportedRejection reported{r, std::nullopt, {}};
    if (r.kind.empty() || r.name.empty()) {
      for (const KeptResource& k : kept) {
        if (k.origin.source == r.origin.source) reported.kept_from_file.push_back(k);
      }
    } else {
      const ResourceKey key{r.kind, r.kind == "Namespace" ? std::string() : r.ns, r.name};
      auto it = std::find_if(kept.begin(), kept.end(), [&](const KeptResource& k) { return k.key == key; });
      if (it != kept.end()) reported.kept_from = it->origin;
    }
    out.push_back(std::move(reported));
  }
  return out;
}

}  // namespace

std::string ReportedRejection::Message() const {
  std::string out = rejection.ToString();
  if (kept_from) out += "; its last good version (" + kept_from->ToString() + ") stays in force";
  if (!kept_from_file.empty()) {
    out += "; still in force from this file's last good read:";
    for (const KeptResource& k : kept_from_file) out += " " + k.key.ToString();
  }
  return out;
}

v1::PolicySnapshot BuildNodeSnapshot(const CompiledPolicy& policy, const std::string& node) {
  v1::PolicySnapshot snapshot = policy.base;
  snapshot.set_version(0);
  if (!policy.exempt_node_ip) return snapshot;
  auto ip = policy.node_ips.find(node);
  if (ip == policy.node_ips.end()) return snapshot;
  const auto& exempt = snapshot.mesh().inbound_exempt_ips();
  if (std::find(exempt.begin(), exempt.end(), ip->second) == exempt.end()) {
    snapshot.mutable_mesh()->add_inbound_exempt_ips(ip->second);
  }
  return snapshot;
}

CompiledPolicy PolicyCompiler::Compile(smi::ResourceSet resources, const WorkloadInventory& inventory) {
  CompiledPolicy policy;
  std::vector<KeptResource> kept = last_good_.RestoreNamespaces(resources, RoundDamage::From(resources.rejections));
  policy.monitored_namespaces = MonitoredNamespaces(resources, options_.mesh.mesh_name);
  KeepOnlyNamespaces(resources, policy.monitored_namespaces);
  std::vector<v1::Workload> workloads = WorkloadsInNamespaces(inventory.workloads, policy.monitored_namespaces);

  smi::CompileResult result = smi::Compile(resources, options_.mesh, workloads);
  std::vector<KeptResource> kept_compiled = last_good_.Reconcile(
      resources, RoundDamage::From(result.rejections), policy.monitored_namespaces, workloads, result.snapshot);
  kept.insert(kept.end(), kept_compiled.begin(), kept_compiled.end());

  policy.base = std::move(result.snapshot);
  // Agents enroll exactly the pods of these namespaces (standalone agents enroll every pod).
  policy.base.mutable_mesh()->set_namespace_scoped(true);
  for (const std::string& ns : policy.monitored_namespaces) policy.base.mutable_mesh()->add_monitored_namespaces(ns);
  policy.node_ips = inventory.node_ips;
  policy.exempt_node_ip = options_.exempt_node_ip;
  for (const v1::Workload& w : workloads) {
    if (!w.node().empty()) policy.nodes.insert(w.node());
  }
  for (const auto& [node, ip] : inventory.node_ips) policy.nodes.insert(node);
  policy.rejections = Report(result.rejections, kept);
  policy.kept = std::move(kept);
  return policy;
}

}  // namespace ferry::controlplane
