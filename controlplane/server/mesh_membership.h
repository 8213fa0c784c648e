// Which namespaces belong to this mesh. Only resources in a namespace labelled
// `ferry.sh/monitored-by: <mesh name>` count: the rest of a cluster (or of a manifest directory)
// is not ours to enforce, and its errors are not ours to report. A namespace without a Namespace
// manifest (e.g. "default" used implicitly) is therefore not monitored.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "controlplane/smi/resources.h"
#include "ferry/v1/policy.pb.h"

namespace ferry::controlplane {

inline constexpr const char* kMonitoredByLabel = "ferry.sh/monitored-by";

std::set<std::string> MonitoredNamespaces(const smi::ResourceSet& resources, const std::string& mesh_name);

// Drops namespaced resources outside `monitored`, and their rejections. Cluster-scoped kinds
// (Namespace) and rejections that name no namespace (unreadable documents) stay.
void KeepOnlyNamespaces(smi::ResourceSet& resources, const std::set<std::string>& monitored);

std::vector<v1::Workload> WorkloadsInNamespaces(const std::vector<v1::Workload>& workloads,
                                                const std::set<std::string>& monitored);

}  // namespace ferry::controlplane
