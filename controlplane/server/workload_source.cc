#include "controlplane/server/workload_source.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/ipv4.h"

namespace ferry::controlplane {
namespace {

using nlohmann::json;

std::string StringField(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return {};
  if (!it->is_string()) throw std::runtime_error(std::string("\"") + key + "\" must be a string");
  return it->get<std::string>();
}

v1::Workload ParseWorkload(const json& item) {
  if (!item.is_object()) throw std::runtime_error("a workload must be an object");
  v1::Workload w;
  w.set_uid(StringField(item, "uid"));
  w.set_name(StringField(item, "name"));
  w.set_namespace_(StringField(item, "namespace"));
  w.set_service_account(StringField(item, "serviceAccount"));
  w.set_ip(StringField(item, "ip"));
  w.set_node(StringField(item, "node"));
  if (w.name().empty() || w.namespace_().empty()) throw std::runtime_error("a workload needs name and namespace");
  if (w.uid().empty()) w.set_uid(w.namespace_() + "/" + w.name());
  if (w.service_account().empty()) w.set_service_account("default");  // as Kubernetes defaults it
  if (!w.ip().empty() && !ParseIpv4(w.ip())) throw std::runtime_error("workload " + w.uid() + ": bad ip \"" + w.ip() + "\"");
  auto labels = item.find("labels");
  if (labels != item.end() && !labels->is_null()) {
    if (!labels->is_object()) throw std::runtime_error("workload " + w.uid() + ": labels must be an object");
    for (const auto& [key, value] : labels->items()) {
      if (!value.is_string()) throw std::runtime_error("workload " + w.uid() + ": label " + key + " must be a string");
      (*w.mutable_labels())[key] = value.get<std::string>();
    }
  }
  return w;
}

WorkloadInventory ParseOrThrow(const json& root) {
  WorkloadInventory inventory;
  const json* workloads = &root;
  if (root.is_object()) {
    auto it = root.find("workloads");
    static const json kEmpty = json::array();
    workloads = it == root.end() ? &kEmpty : &*it;
    auto nodes = root.find("nodes");
    if (nodes != root.end()) {
      if (!nodes->is_array()) throw std::runtime_error("\"nodes\" must be an array");
      for (const json& node : *nodes) {
        if (!node.is_object()) throw std::runtime_error("a node must be an object");
        std::string name = StringField(node, "name");
        std::string ip = StringField(node, "ip");
        if (name.empty() || !ParseIpv4(ip)) throw std::runtime_error("a node needs a name and an IPv4 ip");
        inventory.node_ips[name] = ip;
      }
    }
  }
  if (!workloads->is_array()) throw std::runtime_error("workloads must be an array");
  for (const json& item : *workloads) inventory.workloads.push_back(ParseWorkload(item));
  return inventory;
}

}  // namespace

std::filesystem::path DefaultWorkloadFile(const std::filesystem::path& manifest_dir) {
  return manifest_dir / ".ferry" / "workloads.json";
}

Result<WorkloadInventory> ParseWorkloadInventory(std::string_view text, const std::string& source) {
  try {
    return ParseOrThrow(json::parse(text));
  } catch (const std::exception& e) {  // nlohmann parse/type errors and our own
    return MakeError(source + ": " + e.what(), EINVAL);
  }
}

Result<WorkloadInventory> FileWorkloadSource::Load() {
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec) && !ec) return WorkloadInventory{};
  std::ifstream in(path_, std::ios::binary);
  if (!in) return ErrnoError("open " + path_.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return ErrnoError("read " + path_.string());
  return ParseWorkloadInventory(text.str(), path_.string());
}

}  // namespace ferry::controlplane
