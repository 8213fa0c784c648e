// Which service accounts have pods on which node, from the controller's workload inventory:
// the rule for certificate issuance (a node may obtain only the identities of pods scheduled on
// it). Immutable once built; the controller swaps in a new one on every reload.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>

#include "common/result.h"
#include "controlplane/server/workload_source.h"
#include "identity/spiffe_id.h"

namespace ferry::controlplane {

class WorkloadPlacement {
 public:
  WorkloadPlacement() = default;
  explicit WorkloadPlacement(const WorkloadInventory& inventory);

  // Ok when a pod with id's namespace and service account is scheduled on `node`; otherwise an
  // error naming where (if anywhere) such pods run.
  Result<void> Authorize(const std::string& node, const identity::SpiffeId& id) const;

 private:
  using ServiceAccount = std::pair<std::string, std::string>;  // namespace, name
  std::map<ServiceAccount, std::set<std::string>> nodes_by_account_;
};

}  // namespace ferry::controlplane
