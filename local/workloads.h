// What `ferryctl local` should be running: Pods and Deployments expanded into pods (with their
// command, environment and labels), placed on nodes, and the namespace membership of the mesh.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "local/manifests.h"

namespace ferry::local {

constexpr const char* kMonitoredByLabel = "ferry.sh/monitored-by";

struct PodPlan {
  std::string namespace_name;
  std::string name;
  std::string owner;  // "Deployment/api" or "Pod/api"
  std::string service_account = "default";
  std::map<std::string, std::string> labels;
  std::string node_name;                            // spec.nodeName
  std::map<std::string, std::string> node_selector;  // spec.nodeSelector
  std::vector<std::string> argv;                    // first container's command + args; empty = none
  std::map<std::string, std::string> env;

  std::string Key() const { return namespace_name + "/" + name; }
  // Changes whenever anything that needs the pod re-created changes.
  std::string Fingerprint() const;
};

struct WorkloadPlan {
  std::vector<PodPlan> pods;         // sorted by Key()
  std::vector<std::string> errors;  // resources that yield no pod, with the reason
};

// Pods and Deployments (replicas → <name>-0 .. <name>-(n-1)); env and envFrom are resolved from
// the ConfigMaps among `resources`; $(VAR) in command/args expands from the container's env.
WorkloadPlan ExpandWorkloads(const std::vector<Manifest>& resources);

// Node for every pod, 1-based: `current` placements are kept (pods whose spec did not change);
// spec.nodeName or nodeSelector kubernetes.io/hostname name a node ("node-2"); the rest go to
// the node with the fewest pods (lowest index on a tie). A pod naming a node that does not exist
// is left out and reported in `errors`.
std::map<std::string, int> PlacePods(const std::vector<PodPlan>& pods, int node_count,
                                     const std::map<std::string, int>& current, std::vector<std::string>* errors);

// Namespaces labelled ferry.sh/monitored-by=<mesh_name>.
std::set<std::string> MeshNamespaces(const std::vector<Manifest>& resources, const std::string& mesh_name);

// One scheduled pod, as the controller's workload inventory lists it.
struct InventoryEntry {
  std::string namespace_name;
  std::string name;
  std::string service_account;
  std::string ip;
  std::string node;
  std::map<std::string, std::string> labels;
};

// {"workloads":[{uid,name,namespace,serviceAccount,ip,node,labels}], "nodes":[{name, ip}]}
nlohmann::json RenderInventory(const std::vector<InventoryEntry>& pods,
                               const std::map<std::string, std::string>& node_ips);

}  // namespace ferry::local
