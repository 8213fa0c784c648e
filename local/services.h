// Services of a local cluster: virtual IPs from 198.19.128.0/17 and the per-pod hosts files that
// stand in for cluster DNS.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"

namespace ferry::local {

struct ServicePort {
  std::string name;
  uint32_t port = 0;
  std::string target_port;  // a number or a container port name, as written
  std::string protocol = "TCP";
  bool operator==(const ServicePort&) const = default;
};

struct ServiceRecord {
  std::string namespace_name;
  std::string name;
  uint32_t vip = 0;  // host byte order; 0 = headless (clusterIP: None)
  std::vector<ServicePort> ports;
  std::map<std::string, std::string> selector;
  std::string Key() const { return namespace_name + "/" + name; }
  bool operator==(const ServiceRecord&) const = default;
};

nlohmann::json ServiceToJson(const ServiceRecord& service);
Result<ServiceRecord> ServiceFromJson(const nlohmann::json& doc);

// Hands out service VIPs: the lowest free address of 198.19.128.0/17 (.0 and the broadcast
// address excluded), or the one the manifest asks for when it is free and in range. A service
// keeps its VIP across re-applies.
class VipAllocator {
 public:
  static constexpr uint32_t kFirst = (198u << 24) | (19u << 16) | (128u << 8) | 1u;  // 198.19.128.1
  static constexpr uint32_t kLast = (198u << 24) | (19u << 16) | (255u << 8) | 254u;  // 198.19.255.254

  explicit VipAllocator(const std::vector<ServiceRecord>& existing);
  // `requested`: spec.clusterIP as written ("" = any, "None" = headless → 0).
  Result<uint32_t> Allocate(const std::string& key, const std::string& requested);
  void Release(const std::string& key);

 private:
  std::map<std::string, uint32_t> by_key_;
  std::set<uint32_t> used_;
};

// What a hosts file needs to know about a pod.
struct PodAddress {
  std::string namespace_name;
  std::string name;
  uint32_t ip = 0;
  std::map<std::string, std::string> labels;
};

bool SelectorMatches(const std::map<std::string, std::string>& selector,
                     const std::map<std::string, std::string>& labels);

// The /etc/hosts of `pod`: localhost, the pod's own name, and for every service `svc.ns` and
// `svc.ns.svc.<domain>` (plus bare `svc` for services of the pod's namespace). The address is
// the VIP when the pod's namespace is in the mesh (agents serve VIPs only for enrolled pods),
// else the first endpoint pod's IP (by pod name); a service without endpoints is then left out.
std::string RenderHostsFile(const PodAddress& pod, bool pod_in_mesh, const std::vector<ServiceRecord>& services,
                            const std::vector<PodAddress>& all_pods,
                            const std::string& cluster_domain = "cluster.local");

}  // namespace ferry::local
