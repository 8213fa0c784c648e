#include "controlplane/smi/resources.h"

#include <iterator>
#include <utility>

namespace ferry::smi {

std::string SourceLocation::ToString() const {
  if (line <= 0) return source;
  return source + ":" + std::to_string(line);
}

std::string Rejection::ToString() const {
  std::string out = origin.ToString();
  out += ": ";
  out += kind.empty() ? std::string("resource") : kind;
  if (!name.empty()) {
    out += " ";
    out += ns.empty() ? name : ns + "/" + name;
  }
  out += " rejected: ";
  out += reason;
  return out;
}

Rejection RejectionFor(const ResourceMeta& meta, std::string code, std::string reason) {
  return Rejection{meta.origin, meta.kind, meta.ns, meta.name, std::move(reason), std::move(code)};
}

namespace {
template <typename T>
void AppendAll(std::vector<T>& into, std::vector<T>&& from) {
  into.insert(into.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}
}  // namespace

void ResourceSet::Merge(ResourceSet&& other) {
  AppendAll(traffic_targets, std::move(other.traffic_targets));
  AppendAll(http_route_groups, std::move(other.http_route_groups));
  AppendAll(tcp_routes, std::move(other.tcp_routes));
  AppendAll(traffic_splits, std::move(other.traffic_splits));
  AppendAll(namespaces, std::move(other.namespaces));
  AppendAll(service_accounts, std::move(other.service_accounts));
  AppendAll(services, std::move(other.services));
  AppendAll(config_maps, std::move(other.config_maps));
  AppendAll(pods, std::move(other.pods));
  AppendAll(deployments, std::move(other.deployments));
  AppendAll(rejections, std::move(other.rejections));
}

size_t ResourceSet::ResourceCount() const {
  return traffic_targets.size() + http_route_groups.size() + tcp_routes.size() +
         traffic_splits.size() + namespaces.size() + service_accounts.size() + services.size() +
         config_maps.size() + pods.size() + deployments.size();
}

}  // namespace ferry::smi
