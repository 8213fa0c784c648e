// The "API server + scheduler + kubelet" of `ferryctl local`: stores applied resources, then
// brings the running pods, services, hosts files, enrollment and the controller's workload
// inventory in line with what is stored.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "local/cluster.h"
#include "local/manifests.h"

namespace ferry::cli {

struct LocalContext {
  std::string state_dir;
  std::unique_ptr<local::LocalCluster> cluster;
  local::ManifestStore store;
  std::string mesh_name;

  // Pods are enrolled by ferryctl itself (no ferry-cni in the CNI chain).
  bool DirectEnrollment() const { return !cluster->options().chain_ferry_cni; }
};

std::string ManifestDir(const std::string& state_dir);    // <state>/manifests
std::string InventoryPath(const std::string& state_dir);  // <manifests>/.ferry/workloads.json

// Stores `manifests` (Service VIPs allocated and written into spec.clusterIP), printing one
// line per resource ("service/api created"). Returns how many were refused.
int StoreManifests(LocalContext& ctx, const std::vector<local::Manifest>& manifests, std::ostream& out);
// Removes them from the store ("deployment/api deleted"); returns how many were not found.
int DeleteManifests(LocalContext& ctx, const std::vector<local::Manifest>& manifests, std::ostream& out);

// Brings the cluster in line with the store; what could not be done is returned (the rest is).
std::vector<std::string> Reconcile(LocalContext& ctx, std::ostream& out);

// Writes the workload inventory the controller reads, atomically (tmp + rename).
Result<void> WriteInventory(LocalContext& ctx);

}  // namespace ferry::cli
