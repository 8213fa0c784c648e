// Where the controller learns which pods run where. Manifests say what *should* run (Pods,
// Deployments); which node a pod landed on and which IP it got is decided by a scheduler (the
// Kubernetes API, or the local cluster tool), so the controller asks a WorkloadSource instead of
// guessing from the manifests.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "ferry/v1/policy.pb.h"

namespace ferry::controlplane {

struct WorkloadInventory {
  std::vector<v1::Workload> workloads;
  std::map<std::string, std::string> node_ips;  // node name -> IPv4, when known
};

class WorkloadSource {
 public:
  virtual ~WorkloadSource() = default;
  // The scheduled workloads right now. An error keeps the controller on its previous inventory.
  virtual Result<WorkloadInventory> Load() = 0;
};

// Reads a JSON file, written by the local cluster tool, in either form:
//   [ {"uid":..,"name":..,"namespace":..,"serviceAccount":..,"ip":..,"node":..,"labels":{..}}, .. ]
//   {"workloads": [ ..as above.. ], "nodes": [ {"name": "node-a", "ip": "198.18.0.2"}, .. ]}
// A missing file is an empty inventory (nothing scheduled yet), not an error.
class FileWorkloadSource : public WorkloadSource {
 public:
  explicit FileWorkloadSource(std::filesystem::path path) : path_(std::move(path)) {}
  Result<WorkloadInventory> Load() override;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The conventional place of the inventory inside a manifest directory: DIR/.ferry/workloads.json.
std::filesystem::path DefaultWorkloadFile(const std::filesystem::path& manifest_dir);

// Parses the JSON above; `source` names it in errors.
Result<WorkloadInventory> ParseWorkloadInventory(std::string_view json, const std::string& source);

}  // namespace ferry::controlplane
