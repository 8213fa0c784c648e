// Keeping the last good version of a resource in force while its manifest is broken.
//
// Every round (a reload of the manifest directory) compiles what parses and validates. A
// resource that compiled before but is rejected now -- or that sat in a file which now has a
// document too broken to name (a YAML syntax error) -- is not dropped: its last good compiled
// form is put back into the snapshot, so a typo never opens or closes traffic by itself.
// A resource that simply disappears (its document or file was deleted) is forgotten: deletion
// is intent. Retention covers what reaches the snapshot (TrafficTarget, TrafficSplit, Service)
// and Namespace (membership); routes are covered through the TrafficTargets that use them.
#pragma once

#include <compare>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "controlplane/smi/compile.h"
#include "controlplane/smi/resources.h"
#include "ferry/v1/policy.pb.h"

namespace ferry::controlplane {

struct ResourceKey {
  std::string kind;
  std::string ns;
  std::string name;

  auto operator<=>(const ResourceKey&) const = default;
  std::string ToString() const;  // "TrafficTarget shop/api-access"
};

// A resource in force from an earlier round.
struct KeptResource {
  ResourceKey key;
  smi::SourceLocation origin;  // where the kept version was read
};

// What a round could not read.
struct RoundDamage {
  std::set<ResourceKey> rejected;       // rejections that name their resource
  std::set<std::string> damaged_files;  // files with a document whose kind or name is unreadable

  static RoundDamage From(const std::vector<smi::Rejection>& rejections);
};

class LastGoodStore {
 public:
  // Before membership is decided: puts back the last good Namespace for every namespace whose
  // manifest is rejected or lost in a damaged file, so a typo in a Namespace manifest does not
  // take the whole namespace out of the mesh. Remembers the namespaces that parsed.
  std::vector<KeptResource> RestoreNamespaces(smi::ResourceSet& resources, const RoundDamage& damage);

  // After compilation: re-adds the last good compiled form of rejected/lost TrafficTargets,
  // TrafficSplits and Services in monitored namespaces (a kept split yields to a valid split of
  // the same root service; a kept Service's endpoints are recomputed from `workloads`), then
  // remembers what compiled this round. Keeps every repeated field ordered by namespace/name.
  std::vector<KeptResource> Reconcile(const smi::ResourceSet& resources, const RoundDamage& damage,
                                      const std::set<std::string>& monitored,
                                      const std::vector<v1::Workload>& workloads,
                                      v1::PolicySnapshot& snapshot);

 private:
  template <typename T>
  struct Entry {
    T value;
    smi::SourceLocation origin;
  };

  std::map<ResourceKey, Entry<smi::Namespace>> namespaces_;
  std::map<ResourceKey, Entry<v1::Authorization>> authorizations_;
  std::map<ResourceKey, Entry<v1::TrafficSplit>> splits_;
  std::map<ResourceKey, Entry<v1::Service>> services_;
};

}  // namespace ferry::controlplane
