// Internal to ferry_smi: per-kind parsers called by the document dispatcher in parse.cc.
// Each one throws FieldError (yaml_fields.h) on the first problem; the dispatcher turns it
// into a Rejection for that resource alone.
#pragma once

#include "controlplane/smi/parse.h"
#include "controlplane/smi/resources.h"
#include "controlplane/smi/yaml_fields.h"

namespace ferry::smi::internal {

// The version part of an apiVersion: "access.smi-spec.io/v1alpha2" -> "v1alpha2".
std::string VersionOf(const std::string& api_version);

// Resolves `api`, `api.<ns>`, `api.<ns>.svc` and `api.<ns>.svc.<cluster domain>` to `api`,
// failing (via `field`) when the name points into a namespace other than `ns`.
std::string NormaliseServiceName(const Field& field, const std::string& ns,
                                 const ParseOptions& options);

// One signature for every kind so the dispatcher's table is a plain list of function pointers.
using KindParser = void (*)(const Field& root, ResourceMeta meta, const ParseOptions& options,
                            ResourceSet& out);

void ParseTrafficTarget(const Field& root, ResourceMeta meta, const ParseOptions&, ResourceSet& out);
void ParseHttpRouteGroup(const Field& root, ResourceMeta meta, const ParseOptions&, ResourceSet& out);
void ParseTcpRoute(const Field& root, ResourceMeta meta, const ParseOptions&, ResourceSet& out);
void ParseTrafficSplit(const Field& root, ResourceMeta meta, const ParseOptions& options, ResourceSet& out);

void ParseNamespace(const Field& root, ResourceMeta meta, const ParseOptions&, ResourceSet& out);
void ParseServiceAccount(const Field& root, ResourceMeta meta, const ParseOptions&, ResourceSet& out);
void ParseService(const Field& root, ResourceMeta meta, const ParseOptions&, ResourceSet& out);
void ParseConfigMap(const Field& root, ResourceMeta meta, const ParseOptions&, ResourceSet& out);
void ParsePod(const Field& root, ResourceMeta meta, const ParseOptions&, ResourceSet& out);
void ParseDeployment(const Field& root, ResourceMeta meta, const ParseOptions&, ResourceSet& out);

}  // namespace ferry::smi::internal
