#include "agent/inpod/pod_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/atomic_file.h"
#include "common/ipv4.h"

namespace ferry::inpod {

using nlohmann::json;

json PodSpecToJson(const PodSpec& p) {
  return {{"namespace", p.namespace_name}, {"name", p.name}, {"serviceAccount", p.service_account},
          {"ip", FormatIpv4(p.ip)}, {"netns", p.netns_path}};
}

std::string PodSpecsToJson(const std::vector<PodSpec>& pods) {
  json list = json::array();
  for (const auto& p : pods) list.push_back(PodSpecToJson(p));
  return json{{"version", 1}, {"pods", list}}.dump(2);
}

Result<std::vector<PodSpec>> PodSpecsFromJson(const std::string& text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("pods") || !doc["pods"].is_array())
    return MakeError("pod state: not a JSON object with a \"pods\" list");
  std::vector<PodSpec> out;
  for (const auto& p : doc["pods"]) {
    PodSpec spec;
    auto ip = p.is_object() ? ParseIpv4(p.value("ip", "")) : std::nullopt;
    if (!ip) return MakeError("pod state: entry without a valid ip: " + p.dump());
    spec.ip = *ip;
    spec.namespace_name = p.value("namespace", "");
    spec.name = p.value("name", "");
    spec.service_account = p.value("serviceAccount", "");
    spec.netns_path = p.value("netns", "");
    if (spec.namespace_name.empty() || spec.name.empty() || spec.netns_path.empty())
      return MakeError("pod state: entry missing namespace, name or netns: " + p.dump());
    out.push_back(std::move(spec));
  }
  return out;
}

Result<void> SavePodState(const std::string& path, const std::vector<PodSpec>& pods) {
  return WriteFileAtomically(path, PodSpecsToJson(pods), 0600);
}

Result<std::vector<PodSpec>> LoadPodState(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::vector<PodSpec>{};
  std::stringstream ss;
  ss << in.rdbuf();
  return PodSpecsFromJson(ss.str());
}

}  // namespace ferry::inpod
