#include "controlplane/server/last_good.h"

#include <algorithm>
#include <utility>

namespace ferry::controlplane {
namespace {

using OriginIndex = std::map<std::pair<std::string, std::string>, smi::SourceLocation>;

// Where each namespace/name was defined; the first definition is the one that compiles.
template <typename T>
OriginIndex IndexOrigins(const std::vector<T>& items) {
  OriginIndex out;
  for (const T& item : items) out.emplace(std::pair{item.meta.ns, item.meta.name}, item.meta.origin);
  return out;
}

template <typename M>
bool ByNamespaceAndName(const M* a, const M* b) {
  return std::tie(a->namespace_(), a->name()) < std::tie(b->namespace_(), b->name());
}

bool LabelsContain(const google::protobuf::Map<std::string, std::string>& labels,
                   const google::protobuf::Map<std::string, std::string>& selector) {
  return std::all_of(selector.begin(), selector.end(), [&](const auto& entry) {
    auto it = labels.find(entry.first);
    return it != labels.end() && it->second == entry.second;
  });
}

void RecomputeEndpoints(const std::vector<v1::Workload>& workloads, v1::Service& service) {
  service.clear_endpoint_uids();
  if (service.selector().empty()) return;  // an empty selector selects nothing
  for (const v1::Workload& w : workloads) {
    if (w.namespace_() == service.namespace_() && LabelsContain(w.labels(), service.selector())) {
      service.add_endpoint_uids(w.uid());
    }
  }
}

// One kind of compiled entry: re-add kept entries, remember fresh ones, sort.
template <typename M, typename Store, typename Accept>
void ReconcileKind(const std::string& kind, google::protobuf::RepeatedPtrField<M>& out, Store& store,
                   const OriginIndex& origins, const RoundDamage& damage,
                   const std::set<std::string>& monitored, Accept&& accept, std::vector<KeptResource>& kept) {
  std::set<ResourceKey> present;
  for (const M& m : out) present.insert(ResourceKey{kind, m.namespace_(), m.name()});
  for (auto it = store.begin(); it != store.end();) {
    const ResourceKey& key = it->first;
    if (present.contains(key)) {
      ++it;
      continue;
    }
    const bool broken = damage.rejected.contains(key) || damage.damaged_files.contains(it->second.origin.source);
    M value = it->second.value;
    if (!broken || !monitored.contains(key.ns) || !accept(value)) {
      it = store.erase(it);
      continue;
    }
    *out.Add() = std::move(value);
    kept.push_back(KeptResource{key, it->second.origin});
    ++it;
  }
  for (const M& m : out) {
    ResourceKey key{kind, m.namespace_(), m.name()};
    if (!present.contains(key)) continue;  // a kept entry: its stored version stays as it was
    auto origin = origins.find({m.namespace_(), m.name()});
    store[key] = {m, origin == origins.end() ? smi::SourceLocation{} : origin->second};
  }
  std::sort(out.pointer_begin(), out.pointer_end(), ByNamespaceAndName<M>);
}

}  // namespace

std::string ResourceKey::ToString() const {
  return kind + " " + (ns.empty() ? name : ns + "/" + name);
}

RoundDamage RoundDamage::From(const std::vector<smi::Rejection>& rejections) {
  RoundDamage damage;
  for (const smi::Rejection& r : rejections) {
    if (r.kind.empty() || r.name.empty()) {
      damage.damaged_files.insert(r.origin.source);
    } else {
      damage.rejected.insert(ResourceKey{r.kind, r.kind == "Namespace" ? std::string() : r.ns, r.name});
    }
  }
  return damage;
}

std::vector<KeptResource> LastGoodStore::RestoreNamespaces(smi::ResourceSet& resources, const RoundDamage& damage) {
  std::set<ResourceKey> present;
  for (const smi::Namespace& ns : resources.namespaces) present.insert(ResourceKey{"Namespace", "", ns.meta.name});
  std::vector<KeptResource> kept;
  for (auto it = namespaces_.begin(); it != namespaces_.end();) {
    const bool broken = damage.rejected.contains(it->first) ||
                        damage.damaged_files.contains(it->second.origin.source);
    if (present.contains(it->first)) {  // refreshed below
      ++it;
      continue;
    }
    if (!broken) {  // deleted: forgotten
      it = namespaces_.erase(it);
      continue;
    }
    resources.namespaces.push_back(it->second.value);
    kept.push_back(KeptResource{it->first, it->second.origin});
    ++it;
  }
  for (const smi::Namespace& ns : resources.namespaces) {
    ResourceKey key{"Namespace", "", ns.meta.name};
    if (present.contains(key)) namespaces_[key] = {ns, ns.meta.origin};
  }
  return kept;
}

std::vector<KeptResource> LastGoodStore::Reconcile(const smi::ResourceSet& resources, const RoundDamage& damage,
                                                   const std::set<std::string>& monitored,
                                                   const std::vector<v1::Workload>& workloads,
                                                   v1::PolicySnapshot& snapshot) {
  std::vector<KeptResource> kept;
  auto accept_any = [](auto&) { return true; };
  ReconcileKind("TrafficTarget", *snapshot.mutable_authorizations(), authorizations_,
                IndexOrigins(resources.traffic_targets), damage, monitored, accept_any, kept);
  // A kept split must not compete with a valid split of the same root service.
  auto split_is_free = [&](const v1::TrafficSplit& split) {
    return std::none_of(snapshot.splits().begin(), snapshot.splits().end(), [&](const v1::TrafficSplit& other) {
      return other.namespace_() == split.namespace_() && other.root_service() == split.root_service();
    });
  };
  ReconcileKind("TrafficSplit", *snapshot.mutable_splits(), splits_, IndexOrigins(resources.traffic_splits),
                damage, monitored, split_is_free, kept);
  auto refresh_endpoints = [&](v1::Service& service) {
    RecomputeEndpoints(workloads, service);
    return true;
  };
  ReconcileKind("Service", *snapshot.mutable_services(), services_, IndexOrigins(resources.services), damage,
                monitored, refresh_endpoints, kept);
  return kept;
}

}  // namespace ferry::controlplane
