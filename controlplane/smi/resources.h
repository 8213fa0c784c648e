// Typed Kubernetes/SMI resources as parsed from manifests, before compilation.
// SMI kinds are kept close to the spec (one struct per kind, all versions folded into it);
// the core kinds are light structs carrying only what the mesh and the local cluster tool use.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ferry::smi {

using Labels = std::map<std::string, std::string>;

// Where a resource came from, for error messages: "examples/api.yaml:12".
struct SourceLocation {
  std::string source;  // file name, or whatever name the caller gave the text
  int line = 0;        // 1-based line of the document start; 0 when unknown

  std::string ToString() const;
};

// Identity of one parsed resource, shared by every kind.
struct ResourceMeta {
  std::string api_version;  // "access.smi-spec.io/v1alpha3"
  std::string kind;         // "TrafficTarget"
  std::string name;
  std::string ns;  // empty for cluster-scoped kinds (Namespace)
  Labels labels;
  SourceLocation origin;
};

// Short, stable names for why a resource was rejected: a bounded set, so the controller can use
// them as a metric label (the free-text `reason` names the resource and cannot be one).
namespace rejection_code {
inline constexpr const char* kInvalidYaml = "invalid-yaml";        // the document is not YAML
inline constexpr const char* kUnreadableFile = "unreadable-file";  // the file could not be read
inline constexpr const char* kInvalidSpec = "invalid-spec";        // a field is missing or malformed
inline constexpr const char* kDuplicate = "duplicate";             // namespace/name defined twice
inline constexpr const char* kConflict = "conflict";               // e.g. a root service split twice
inline constexpr const char* kUnresolvedReference = "unresolved-reference";  // names what is not there
}  // namespace rejection_code

// One resource that could not be applied, and why. The rest of the input still applies.
struct Rejection {
  SourceLocation origin;
  std::string kind;  // may be empty when the document had no readable kind
  std::string ns;
  std::string name;
  std::string reason;
  std::string code = rejection_code::kInvalidSpec;  // one of rejection_code

  // "api.yaml:12: TrafficTarget default/api-access rejected: <reason>"
  std::string ToString() const;
};

Rejection RejectionFor(const ResourceMeta& meta, std::string code, std::string reason);

// --- access.smi-spec.io ---------------------------------------------------------------

struct SubjectRef {
  std::string kind;  // only "ServiceAccount" is accepted
  std::string name;
  std::string ns;  // defaulted to the TrafficTarget's namespace when omitted
};

struct TrafficTargetRule {
  std::string kind;  // "HTTPRouteGroup" | "TCPRoute"
  std::string name;
  std::vector<std::string> matches;  // empty = every match of the route resource
};

struct TrafficTarget {
  ResourceMeta meta;
  SubjectRef destination;
  std::optional<uint32_t> destination_port;  // access v1alpha2 only
  std::vector<SubjectRef> sources;
  std::vector<TrafficTargetRule> rules;
};

// --- specs.smi-spec.io -------------------------------------------------------------------

struct HttpRouteMatch {
  std::string name;
  std::string path_regex;            // empty = any path; validated RE2
  std::vector<std::string> methods;  // as written; "*" = any
  Labels headers;                    // lower-cased header name -> validated RE2 of the value
};

struct HttpRouteGroup {
  ResourceMeta meta;
  std::vector<HttpRouteMatch> matches;
};

struct TcpRoute {
  ResourceMeta meta;
  std::string match_name;       // specs v1alpha4 spec.matches.name; may be empty
  std::vector<uint32_t> ports;  // specs v1alpha4 spec.matches.ports; empty = all ports
};

// --- split.smi-spec.io -------------------------------------------------------------------

struct TrafficSplitBackend {
  std::string service;  // bare service name in the split's namespace
  uint32_t weight = 0;
};

struct TrafficSplit {
  ResourceMeta meta;
  std::string root_service;  // normalised to the bare name in meta.ns
  std::vector<TrafficSplitBackend> backends;
};

// --- core Kubernetes kinds (light) --------------------------------------------------------

struct Namespace {
  ResourceMeta meta;
};

struct ServiceAccount {
  ResourceMeta meta;
};

// Service targetPort is an int-or-string: a number, or the name of a container port.
struct IntOrName {
  uint32_t number = 0;
  std::string name;
};

struct ServicePortSpec {
  std::string name;
  uint32_t port = 0;
  IntOrName target_port;  // defaults to `port` when omitted
  std::string protocol = "TCP";
  std::string app_protocol;
};

struct Service {
  ResourceMeta meta;
  std::vector<ServicePortSpec> ports;
  Labels selector;
  std::string cluster_ip;  // spec.clusterIP as written; "None" for headless
};

struct ConfigMap {
  ResourceMeta meta;
  std::map<std::string, std::string> data;
};

struct EnvVar {
  std::string name;
  std::string value;  // valueFrom is not supported by the local tool; left empty
};

struct ContainerSpec {
  std::string name;
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::vector<EnvVar> env;
};

struct PodSpec {
  std::string service_account_name;  // "default" when omitted, as Kubernetes does
  std::string node_name;
  Labels node_selector;
  std::optional<ContainerSpec> first_container;
};

struct Pod {
  ResourceMeta meta;
  PodSpec spec;
};

struct Deployment {
  ResourceMeta meta;
  uint32_t replicas = 1;
  Labels selector;         // spec.selector.matchLabels
  Labels template_labels;  // spec.template.metadata.labels
  PodSpec pod;             // spec.template.spec
};

// Everything parsed from some manifests, plus what could not be parsed.
struct ResourceSet {
  std::vector<TrafficTarget> traffic_targets;
  std::vector<HttpRouteGroup> http_route_groups;
  std::vector<TcpRoute> tcp_routes;
  std::vector<TrafficSplit> traffic_splits;
  std::vector<Namespace> namespaces;
  std::vector<ServiceAccount> service_accounts;
  std::vector<Service> services;
  std::vector<ConfigMap> config_maps;
  std::vector<Pod> pods;
  std::vector<Deployment> deployments;
  std::vector<Rejection> rejections;

  // Appends everything from `other` (used to combine the files of a directory).
  void Merge(ResourceSet&& other);
  size_t ResourceCount() const;
};

}  // namespace ferry::smi
