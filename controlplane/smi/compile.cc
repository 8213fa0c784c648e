#include "controlplane/smi/compile.h"

#include <algorithm>
#include <set>

#include "controlplane/smi/compile_internal.h"

namespace ferry::smi {
namespace {

using internal::NamespacedName;

// Keeps the first definition of each namespace/name and rejects the rest, then orders the
// survivors by namespace/name so the snapshot does not depend on file order.
template <typename T>
std::vector<const T*> Deduplicate(const std::vector<T>& items, std::vector<Rejection>& rejections) {
  std::map<NamespacedName, const T*> first;
  for (const T& item : items) {
    auto [it, inserted] = first.emplace(NamespacedName{item.meta.ns, item.meta.name}, &item);
    if (!inserted) {
      rejections.push_back(RejectionFor(item.meta, rejection_code::kDuplicate,
                                        "duplicate " + item.meta.kind + " (first defined at " +
                                            it->second->meta.origin.ToString() + ")"));
    }
  }
  std::vector<const T*> out;
  out.reserve(first.size());
  for (const auto& [key, item] : first) out.push_back(item);
  return out;
}

void FillMesh(const MeshOptions& options, v1::MeshConfig* mesh) {
  mesh->set_mesh_name(options.mesh_name);
  mesh->set_trust_domain(options.trust_domain);
  mesh->set_permissive(options.permissive);
  mesh->set_deny_egress(options.deny_egress);
  for (const std::string& ip : options.inbound_exempt_ips) mesh->add_inbound_exempt_ips(ip);
}

bool SelectorMatches(const Labels& selector, const google::protobuf::Map<std::string, std::string>& labels) {
  return std::all_of(selector.begin(), selector.end(), [&](const auto& entry) {
    auto it = labels.find(entry.first);
    return it != labels.end() && it->second == entry.second;
  });
}

void CompileService(const Service& service, const std::vector<v1::Workload>& workloads, v1::Service* out) {
  out->set_name(service.meta.name);
  out->set_namespace_(service.meta.ns);
  if (service.cluster_ip != "None") out->set_vip(service.cluster_ip);
  for (const ServicePortSpec& port : service.ports) {
    v1::ServicePort* p = out->add_ports();
    p->set_name(port.name);
    p->set_port(port.port);
    p->set_target_port(port.target_port.number);  // 0 for a named targetPort (see report)
    p->set_protocol(port.protocol);
    p->set_app_protocol(port.app_protocol);
  }
  for (const auto& [key, value] : service.selector) (*out->mutable_selector())[key] = value;
  // An empty selector selects nothing (Kubernetes: endpoints are managed by hand).
  if (service.selector.empty()) return;
  for (const v1::Workload& workload : workloads) {
    if (workload.namespace_() == service.meta.ns && SelectorMatches(service.selector, workload.labels())) {
      out->add_endpoint_uids(workload.uid());
    }
  }
}

void CompileSplits(const std::vector<const TrafficSplit*>& splits, v1::PolicySnapshot& snapshot,
                   std::vector<Rejection>& rejections) {
  std::map<NamespacedName, const TrafficSplit*> by_root;
  for (const TrafficSplit* split : splits) {
    auto [it, inserted] = by_root.emplace(NamespacedName{split->meta.ns, split->root_service}, split);
    if (!inserted) {
      rejections.push_back(RejectionFor(split->meta, rejection_code::kConflict,
                                        "root service \"" + split->root_service +
                                            "\" is already split by TrafficSplit " + it->second->meta.name));
      continue;
    }
    v1::TrafficSplit* out = snapshot.add_splits();
    out->set_namespace_(split->meta.ns);
    out->set_name(split->meta.name);
    out->set_root_service(split->root_service);
    for (const TrafficSplitBackend& backend : split->backends) {
      v1::TrafficSplitBackend* b = out->add_backends();
      b->set_service(backend.service);
      b->set_weight(backend.weight);
    }
  }
}

}  // namespace

CompileResult Compile(const ResourceSet& resources, const MeshOptions& mesh,
                      const std::vector<v1::Workload>& workloads) {
  CompileResult result;
  result.rejections = resources.rejections;
  v1::PolicySnapshot& snapshot = result.snapshot;
  FillMesh(mesh, snapshot.mutable_mesh());
  for (const v1::Workload& workload : workloads) *snapshot.add_workloads() = workload;

  internal::RouteIndex routes;
  for (const HttpRouteGroup* group : Deduplicate(resources.http_route_groups, result.rejections)) {
    routes.http[{group->meta.ns, group->meta.name}] = group;
  }
  for (const TcpRoute* route : Deduplicate(resources.tcp_routes, result.rejections)) {
    routes.tcp[{route->meta.ns, route->meta.name}] = route;
  }
  for (const TrafficTarget* target : Deduplicate(resources.traffic_targets, result.rejections)) {
    Result<v1::Authorization> auth = internal::CompileTrafficTarget(*target, routes);
    if (!auth.ok()) {
      result.rejections.push_back(
          RejectionFor(target->meta, rejection_code::kUnresolvedReference, auth.error().Message()));
      continue;
    }
    *snapshot.add_authorizations() = std::move(auth).value();
  }
  CompileSplits(Deduplicate(resources.traffic_splits, result.rejections), snapshot, result.rejections);
  for (const Service* service : Deduplicate(resources.services, result.rejections)) {
    CompileService(*service, workloads, snapshot.add_services());
  }
  return result;
}

}  // namespace ferry::smi
