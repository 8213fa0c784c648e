// Manifest parsing: multi-document YAML (text, a file, or a directory of *.yaml/*.yml) into
// typed resources. Every document is parsed and validated on its own; a bad one becomes a
// Rejection naming its file, line, kind, namespace/name and reason, and never stops the others.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.h"
#include "controlplane/smi/resources.h"

namespace ferry::smi {

struct ParseOptions {
  std::string default_namespace = "default";  // for namespaced resources without one, like kubectl
  std::string cluster_domain = "cluster.local";  // accepted suffix of `svc.<domain>` service names
};

// Supported versions, for documentation and error messages:
//   access.smi-spec.io/{v1alpha2,v1alpha3}            TrafficTarget
//   specs.smi-spec.io/{v1alpha1..v1alpha4}            HTTPRouteGroup, TCPRoute
//   split.smi-spec.io/{v1alpha2..v1alpha4}            TrafficSplit (v1alpha1 quantities rejected)
//   v1 Namespace, ServiceAccount, Service, ConfigMap, Pod; apps/v1 Deployment; v1 List (items).
// Never fails as a whole: unparseable documents are recorded in ResourceSet::rejections.
ResourceSet ParseManifests(std::string_view yaml, const std::string& source_name,
                           const ParseOptions& options = {});

// A file, or a directory whose *.yaml / *.yml files (not recursive) are read in name order.
// Fails only when `path` itself cannot be read; a file in a directory that cannot be read
// becomes a rejection.
Result<ResourceSet> LoadManifestPath(const std::filesystem::path& path,
                                     const ParseOptions& options = {});

}  // namespace ferry::smi
