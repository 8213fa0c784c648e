#include "controlplane/server/workload_placement.h"

namespace ferry::controlplane {

WorkloadPlacement::WorkloadPlacement(const WorkloadInventory& inventory) {
  for (const v1::Workload& w : inventory.workloads) {
    // A pod not (yet) scheduled has no node to speak for it.
    if (w.node().empty()) continue;
    nodes_by_account_[{w.namespace_(), w.service_account()}].insert(w.node());
  }
}

Result<void> WorkloadPlacement::Authorize(const std::string& node, const identity::SpiffeId& id) const {
  const std::string account = id.ns() + "/" + id.service_account();
  auto it = nodes_by_account_.find({id.ns(), id.service_account()});
  if (it == nodes_by_account_.end()) {
    return MakeError("no pod with service account " + account + " is scheduled on any node");
  }
  if (it->second.contains(node)) return Ok();
  std::string elsewhere;
  for (const std::string& n : it->second) elsewhere += (elsewhere.empty() ? "" : ", ") + n;
  return MakeError("no pod with service account " + account + " is scheduled on node \"" + node +
                   "\" (its pods run on " + elsewhere + ")");
}

}  // namespace ferry::controlplane
