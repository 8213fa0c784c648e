// A policy snapshot for the dispatcher's HTTP tests (used by tests/agent and tests/metrics):
// namespace "app" with frontend (198.18.1.2) and api (198.18.1.3) on this node and api-v2-0
// (198.18.2.5) on another; services api (root, no pods), api-v1 (→ api) and api-v2 (→ api-v2-0),
// port 80 → 8080; TrafficSplit api → api-v1 / api-v2; frontend may GET /api/values on api.
#pragma once

#include <string>
#include <vector>

#include "agent/http/http_message.h"
#include "ferry/v1/policy.pb.h"
#include "policy/snapshot_builders.h"

namespace ferry::dispatch::test_snapshots {

inline void AddWorkload(v1::PolicySnapshot& s, const char* name, const char* sa, const char* ip) {
  auto* w = s.add_workloads();
  w->set_uid(name);
  w->set_name(name);
  w->set_namespace_("app");
  w->set_service_account(sa);
  w->set_ip(ip);
}

inline void AddService(v1::PolicySnapshot& s, const char* name, const char* vip, std::vector<std::string> uids,
                       const char* port_name) {
  auto* svc = s.add_services();
  svc->set_name(name);
  svc->set_namespace_("app");
  svc->set_vip(vip);
  auto* port = svc->add_ports();
  port->set_name(port_name);
  port->set_port(80);
  port->set_target_port(8080);
  port->set_protocol("TCP");
  for (const auto& uid : uids) svc->add_endpoint_uids(uid);
}

// `port_name` "http" declares the ports HTTP; another name leaves it to the first bytes.
inline v1::PolicySnapshot CanarySnapshot(uint32_t v1_weight, uint32_t v2_weight, const char* port_name = "api-port") {
  v1::PolicySnapshot s;
  AddWorkload(s, "frontend", "frontend", "198.18.1.2");
  AddWorkload(s, "api", "api", "198.18.1.3");
  AddWorkload(s, "api-v2-0", "api-v2", "198.18.2.5");
  AddService(s, "api", "198.19.128.10", {}, port_name);
  AddService(s, "api-v1", "198.19.128.11", {"api"}, port_name);
  AddService(s, "api-v2", "198.19.128.12", {"api-v2-0"}, port_name);
  auto* split = s.add_splits();
  split->set_namespace_("app");
  split->set_name("api-split");
  split->set_root_service("api");
  for (auto [service, weight] : {std::pair{"api-v1", v1_weight}, std::pair{"api-v2", v2_weight}}) {
    auto* backend = split->add_backends();
    backend->set_service(service);
    backend->set_weight(weight);
  }
  auto* rule = ferry::test_snapshots::AddAuthorization(s, "app", "api-from-frontend", "api", "frontend",
                                                      "HTTPRouteGroup", "api-routes");
  auto* match = rule->mutable_http()->add_matches();
  match->set_name("values");
  match->set_path_regex("/api/values");
  match->add_methods("GET");
  return s;
}

inline http::MessageHead Request(const char* method, const char* target) {
  http::MessageHead head;
  head.method = method;
  head.target = target;
  return head;
}

}  // namespace ferry::dispatch::test_snapshots
