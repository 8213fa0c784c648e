#include "local/workloads.h"

#include <algorithm>

namespace ferry::local {

using nlohmann::json;

namespace {

using ConfigMaps = std::map<std::string, std::map<std::string, std::string>>;  // "ns/name" -> data

bool OptionalRef(const YAML::Node& ref) { return ScalarOr(Field(ref, "optional")) == "true"; }

// envFrom first, then env (which wins on a clash), as the kubelet does.
Result<std::map<std::string, std::string>> ResolveEnv(const YAML::Node& container, const std::string& ns,
                                                      const ConfigMaps& config_maps) {
  std::map<std::string, std::string> env;
  for (const auto& from : Field(container, "envFrom")) {
    const YAML::Node ref = Field(from, "configMapRef");
    if (!ref) continue;  // secretRef: the local cluster has no Secrets
    std::string cm = ScalarOr(Field(ref, "name"));
    auto it = config_maps.find(ns + "/" + cm);
    if (it == config_maps.end()) {
      if (OptionalRef(ref)) continue;
      return MakeError("envFrom: ConfigMap " + ns + "/" + cm + " not found");
    }
    std::string prefix = ScalarOr(Field(from, "prefix"));
    for (const auto& [k, v] : it->second) env[prefix + k] = v;
  }
  for (const auto& var : Field(container, "env")) {
    std::string name = ScalarOr(Field(var, "name"));
    if (name.empty()) return MakeError("env entry without a name");
    const YAML::Node ref = Field(var, "valueFrom", "configMapKeyRef");
    if (!ref) {
      env[name] = ScalarOr(Field(var, "value"));
      continue;
    }
    std::string cm = ScalarOr(Field(ref, "name")), key = ScalarOr(Field(ref, "key"));
    auto it = config_maps.find(ns + "/" + cm);
    if (it != config_maps.end() && it->second.count(key)) {
      env[name] = it->second.at(key);
    } else if (!OptionalRef(ref)) {
      return MakeError("env " + name + ": key " + key + " of ConfigMap " + ns + "/" + cm + " not found");
    }
  }
  return env;
}

// $(VAR) → the value of VAR when defined (left as written otherwise); $$ → $.
std::string ExpandVars(const std::string& in, const std::map<std::string, std::string>& env) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '$' && i + 1 < in.size() && in[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (in[i] == '$' && i + 1 < in.size() && in[i + 1] == '(') {
      size_t close = in.find(')', i + 2);
      if (close != std::string::npos) {
        auto it = env.find(in.substr(i + 2, close - i - 2));
        if (it != env.end()) {
          out += it->second;
          i = close;
          continue;
        }
      }
    }
    out += in[i];
  }
  return out;
}

Result<void> FillFromPodSpec(const YAML::Node& spec, const std::string& ns, const ConfigMaps& config_maps,
                             PodPlan& plan) {
  plan.service_account = ScalarOr(Field(spec, "serviceAccountName"), ScalarOr(Field(spec, "serviceAccount"), "default"));
  plan.node_name = ScalarOr(Field(spec, "nodeName"));
  plan.node_selector = StringMap(Field(spec, "nodeSelector"));
  const YAML::Node containers = Field(spec, "containers");
  if (!containers || !containers.IsSequence() || containers.size() == 0)
    return MakeError("spec.containers must list at least one container");
  const YAML::Node first = containers[0];
  auto env = ResolveEnv(first, ns, config_maps);
  if (!env.ok()) return env.error();
  plan.env = *env;
  for (const char* field : {"command", "args"}) {
    for (const auto& word : Field(first, field)) plan.argv.push_back(ExpandVars(ScalarOr(word), plan.env));
  }
  return Ok();
}

}  // namespace

std::string PodPlan::Fingerprint() const {
  return json{{"sa", service_account}, {"labels", labels}, {"nodeName", node_name},
              {"nodeSelector", node_selector}, {"argv", argv}, {"env", env}}
      .dump();
}

WorkloadPlan ExpandWorkloads(const std::vector<Manifest>& resources) {
  ConfigMaps config_maps;
  for (const auto& m : resources) {
    if (m.kind == "ConfigMap") config_maps[m.namespace_name + "/" + m.name] = StringMap(Field(m.doc, "data"));
  }
  WorkloadPlan out;
  for (const auto& m : resources) {
    if (m.kind != "Pod" && m.kind != "Deployment") continue;
    bool deployment = m.kind == "Deployment";
    const YAML::Node spec = deployment ? Field(m.doc, "spec", "template", "spec") : Field(m.doc, "spec");
    PodPlan base;
    base.namespace_name = m.namespace_name;
    base.owner = m.kind + "/" + m.name;
    base.labels = StringMap(deployment ? Field(m.doc, "spec", "template", "metadata", "labels") : Field(m.doc, "metadata", "labels"));
    if (auto r = FillFromPodSpec(spec, m.namespace_name, config_maps, base); !r.ok()) {
      out.errors.push_back(m.origin + ": " + m.Key() + ": " + r.error().Message());
      continue;
    }
    if (!deployment) {
      base.name = m.name;
      out.pods.push_back(base);
      continue;
    }
    int replicas = 1;
    try {
      if (auto r = Field(m.doc, "spec", "replicas")) replicas = r.as<int>();
    } catch (const YAML::Exception&) {
      replicas = -1;
    }
    if (replicas < 0 || replicas > 100) {
      out.errors.push_back(m.origin + ": " + m.Key() + ": spec.replicas must be a number from 0 to 100");
      continue;
    }
    for (int i = 0; i < replicas; ++i) {
      PodPlan pod = base;
      pod.name = m.name + "-" + std::to_string(i);
      out.pods.push_back(pod);
    }
  }
  std::sort(out.pods.begin(), out.pods.end(), [](const PodPlan& a, const PodPlan& b) { return a.Key() < b.Key(); });
  for (size_t i = 1; i < out.pods.size(); ++i) {
    if (out.pods[i].Key() == out.pods[i - 1].Key())
      out.errors.push_back("pod " + out.pods[i].Key() + " is defined twice (" + out.pods[i - 1].owner + ", " +
                           out.pods[i].owner + ")");
  }
  return out;
}

namespace {

// 0 = no constraint, -1 = names a node that does not exist.
int RequiredNode(const PodPlan& pod, int node_count) {
  std::string wanted = pod.node_name;
  if (wanted.empty()) {
    auto it = pod.node_selector.find("kubernetes.io/hostname");
    if (it != pod.node_selector.end()) wanted = it->second;
  }
  if (wanted.empty()) return 0;
  for (int i = 1; i <= node_count; ++i)
    if (wanted == "node-" + std::to_string(i)) return i;
  return -1;
}

}  // namespace

std::map<std::string, int> PlacePods(const std::vector<PodPlan>& pods, int node_count,
                                     const std::map<std::string, int>& current, std::vector<std::string>* errors) {
  std::map<std::string, int> placed;
  std::vector<int> load(static_cast<size_t>(node_count) + 1, 0);
  std::vector<const PodPlan*> unplaced;
  for (const auto& pod : pods) {
    int required = RequiredNode(pod, node_count);
    auto it = current.find(pod.Key());
    int node = required != 0 ? required : (it != current.end() ? it->second : 0);
    if (node < 0 || node > node_count) {
      if (errors) errors->push_back("pod " + pod.Key() + ": no such node (there are " + std::to_string(node_count) + ")");
      continue;
    }
    if (node == 0) {
      unplaced.push_back(&pod);
      continue;
    }
    placed[pod.Key()] = node;
    ++load[static_cast<size_t>(node)];
  }
  for (const PodPlan* pod : unplaced) {
    int best = 1;
    for (int i = 2; i <= node_count; ++i)
      if (load[static_cast<size_t>(i)] < load[static_cast<size_t>(best)]) best = i;
    placed[pod->Key()] = best;
    ++load[static_cast<size_t>(best)];
  }
  return placed;
}

std::set<std::string> MeshNamespaces(const std::vector<Manifest>& resources, const std::string& mesh_name) {
  std::set<std::string> out;
  for (const auto& m : resources) {
    if (m.kind != "Namespace") continue;
    auto labels = StringMap(Field(m.doc, "metadata", "labels"));
    auto it = labels.find(kMonitoredByLabel);
    if (it != labels.end() && it->second == mesh_name) out.insert(m.name);
  }
  return out;
}

json RenderInventory(const std::vector<InventoryEntry>& pods, const std::map<std::string, std::string>& node_ips) {
  json workloads = json::array();
  for (const auto& p : pods) {
    workloads.push_back({{"uid", p.namespace_name + "/" + p.name},
                         {"name", p.name},
                         {"namespace", p.namespace_name},
                         {"serviceAccount", p.service_account},
                         {"ip", p.ip},
                         {"node", p.node},
                         {"labels", p.labels}});
  }
  json nodes = json::array();
  for (const auto& [name, ip] : node_ips) nodes.push_back({{"name", name}, {"ip", ip}});
  return {{"workloads", workloads}, {"nodes", nodes}};
}

}  // namespace ferry::local
