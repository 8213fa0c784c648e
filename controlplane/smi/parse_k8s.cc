// Parsers for the core Kubernetes kinds the mesh and the local cluster tool need. Light on
// purpose: only the fields Ferry uses are read, everything else is ignored.
#include <set>

#include "common/ipv4.h"

#include "controlplane/smi/parse_internal.h"

namespace ferry::smi::internal {
namespace {

IntOrName ParseTargetPort(const Field& field, uint32_t fallback) {
  IntOrName out;
  if (!field.Exists()) {
    out.number = fallback;
    return out;
  }
  const std::string text = field.RequireString();
  if (text.find_first_not_of("0123456789") != std::string::npos) {
    out.name = text;  // a named container port, resolved against the pods later
    return out;
  }
  out.number = field.RequirePort();
  return out;
}

ServicePortSpec ParseServicePort(const Field& field) {
  if (!field.IsMap()) field.Fail("must be a mapping");
  ServicePortSpec port;
  port.name = field.Child("name").StringOr("");
  port.port = field.Child("port").RequirePort();
  port.target_port = ParseTargetPort(field.Child("targetPort"), port.port);
  port.protocol = field.Child("protocol").StringOr("TCP");
  if (port.protocol != "TCP" && port.protocol != "UDP" && port.protocol != "SCTP") {
    field.Child("protocol").Fail("protocol \"" + port.protocol + "\" is not TCP, UDP or SCTP");
  }
  port.app_protocol = field.Child("appProtocol").StringOr("");
  return port;
}

ContainerSpec ParseContainer(const Field& field) {
  if (!field.IsMap()) field.Fail("must be a mapping");
  ContainerSpec c;
  c.name = field.Child("name").StringOr("");
  c.image = field.Child("image").StringOr("");
  c.command = field.Child("command").StringList();
  c.args = field.Child("args").StringList();
  for (const Field& env : field.Child("env").Items()) {
    if (!env.IsMap()) env.Fail("must be a mapping with name and value");
    c.env.push_back(EnvVar{env.Child("name").RequireString(), env.Child("value").StringOr("")});
  }
  return c;
}

PodSpec ParsePodSpec(const Field& field) {
  if (!field.IsMap()) field.Fail("required field is missing or not a mapping");
  PodSpec spec;
  // serviceAccount is the deprecated spelling Kubernetes still honours.
  spec.service_account_name = field.Child("serviceAccountName").StringOr(field.Child("serviceAccount").StringOr(""));
  if (spec.service_account_name.empty()) spec.service_account_name = "default";
  spec.node_name = field.Child("nodeName").StringOr("");
  spec.node_selector = field.Child("nodeSelector").StringMap();
  std::vector<Field> containers = field.Child("containers").Items();
  if (!containers.empty()) spec.first_container = ParseContainer(containers.front());
  return spec;
}

}  // namespace

void ParseNamespace(const Field&, ResourceMeta meta, const ParseOptions&, ResourceSet& out) {
  out.namespaces.push_back(Namespace{std::move(meta)});
}

void ParseServiceAccount(const Field&, ResourceMeta meta, const ParseOptions&, ResourceSet& out) {
  out.service_accounts.push_back(ServiceAccount{std::move(meta)});
}

void ParseService(const Field& root, ResourceMeta meta, const ParseOptions&, ResourceSet& out) {
  Field spec = root.Child("spec");
  Service service;
  std::set<std::string> names;
  for (const Field& item : spec.Child("ports").Items()) {
    ServicePortSpec port = ParseServicePort(item);
    if (!port.name.empty() && !names.insert(port.name).second) {
      item.Child("name").Fail("duplicate port name \"" + port.name + "\"");
    }
    service.ports.push_back(std::move(port));
  }
  service.selector = spec.Child("selector").StringMap();
  service.cluster_ip = spec.Child("clusterIP").StringOr("");
  if (!service.cluster_ip.empty() && service.cluster_ip != "None" && !ParseIpv4(service.cluster_ip)) {
    spec.Child("clusterIP").Fail("\"" + service.cluster_ip + "\" is not an IPv4 address or None");
  }
  service.meta = std::move(meta);
  out.services.push_back(std::move(service));
}

void ParseConfigMap(const Field& root, ResourceMeta meta, const ParseOptions&, ResourceSet& out) {
  ConfigMap config;
  config.data = root.Child("data").StringMap();
  config.meta = std::move(meta);
  out.config_maps.push_back(std::move(config));
}

void ParsePod(const Field& root, ResourceMeta meta, const ParseOptions&, ResourceSet& out) {
  Pod pod;
  pod.spec = ParsePodSpec(root.Child("spec"));
  pod.meta = std::move(meta);
  out.pods.push_back(std::move(pod));
}

void ParseDeployment(const Field& root, ResourceMeta meta, const ParseOptions&, ResourceSet& out) {
  Field spec = root.Child("spec");
  if (!spec.IsMap()) spec.Fail("required field is missing or not a mapping");
  Deployment deployment;
  std::optional<int64_t> replicas = spec.Child("replicas").OptionalInt();
  if (replicas && (*replicas < 0 || *replicas > 10000)) {
    spec.Child("replicas").Fail("replicas " + std::to_string(*replicas) + " is out of range 0-10000");
  }
  deployment.replicas = replicas ? static_cast<uint32_t>(*replicas) : 1;
  deployment.selector = spec.Child("selector").Child("matchLabels").StringMap();
  Field pod_template = spec.Child("template");
  deployment.template_labels = pod_template.Child("metadata").Child("labels").StringMap();
  deployment.pod = ParsePodSpec(pod_template.Child("spec"));
  deployment.meta = std::move(meta);
  out.deployments.push_back(std::move(deployment));
}

}  // namespace ferry::smi::internal
