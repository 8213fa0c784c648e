#include "controlplane/server/mesh_membership.h"

#include <algorithm>

namespace ferry::controlplane {
namespace {

template <typename T>
void EraseOutside(std::vector<T>& items, const std::set<std::string>& monitored) {
  std::erase_if(items, [&](const T& item) { return !monitored.contains(item.meta.ns); });
}

}  // namespace

std::set<std::string> MonitoredNamespaces(const smi::ResourceSet& resources, const std::string& mesh_name) {
  std::set<std::string> out;
  for (const smi::Namespace& ns : resources.namespaces) {
    auto it = ns.meta.labels.find(kMonitoredByLabel);
    if (it != ns.meta.labels.end() && it->second == mesh_name) out.insert(ns.meta.name);
  }
  return out;
}

void KeepOnlyNamespaces(smi::ResourceSet& resources, const std::set<std::string>& monitored) {
  EraseOutside(resources.traffic_targets, monitored);
  EraseOutside(resources.http_route_groups, monitored);
  EraseOutside(resources.tcp_routes, monitored);
  EraseOutside(resources.traffic_splits, monitored);
  EraseOutside(resources.service_accounts, monitored);
  EraseOutside(resources.services, monitored);
  EraseOutside(resources.config_maps, monitored);
  EraseOutside(resources.pods, monitored);
  EraseOutside(resources.deployments, monitored);
  std::erase_if(resources.rejections, [&](const smi::Rejection& r) {
    return r.kind != "Namespace" && !r.ns.empty() && !monitored.contains(r.ns);
  });
}

std::vector<v1::Workload> WorkloadsInNamespaces(const std::vector<v1::Workload>& workloads,
                                                const std::set<std::string>& monitored) {
  std::vector<v1::Workload> out;
  std::copy_if(workloads.begin(), workloads.end(), std::back_inserter(out),
               [&](const v1::Workload& w) { return monitored.contains(w.namespace_()); });
  return out;
}

}  // namespace ferry::controlplane
