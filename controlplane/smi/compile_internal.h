// Internal to ferry_smi: TrafficTarget resolution, used by compile.cc.
#pragma once

#include <map>
#include <string>
#include <utility>

#include "common/result.h"
#include "controlplane/smi/resources.h"
#include "ferry/v1/policy.pb.h"

namespace ferry::smi::internal {

using NamespacedName = std::pair<std::string, std::string>;  // (namespace, name)

struct RouteIndex {
  std::map<NamespacedName, const HttpRouteGroup*> http;
  std::map<NamespacedName, const TcpRoute*> tcp;
};

// Resolves a TrafficTarget's rules against the routes; an Error's context is the rejection reason.
Result<v1::Authorization> CompileTrafficTarget(const TrafficTarget& target, const RouteIndex& routes);

}  // namespace ferry::smi::internal
