// The node agent's operator endpoints, on three listeners:
//   127.0.0.1:15000  debug: /config_dump /workloads /certs /connections /logging?level=
//                    /explain?src=&dst=&port=&method=&path= (would the policy allow it, and why)
//                    (loopback of the node's network namespace only: a pod has its own loopback
//                    and no route to the node's, so it can never reach this port)
//   ADDR:15021       /healthz/ready: 200 once the proxy runs and a policy snapshot is in force
//   ADDR:15020       /metrics: Prometheus text
// The agent supplies what they show as callbacks, so this module knows nothing of its internals.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/admin/admin_server.h"
#include "agent/inpod/pod_registry.h"
#include "common/result.h"
#include "ferry/v1/policy.pb.h"

namespace ferry::admin {

constexpr uint16_t kDebugPort = 15000;
constexpr uint16_t kMetricsPort = 15020;
constexpr uint16_t kReadinessPort = 15021;
constexpr uint32_t kLoopback = 0x7f000001;

struct AgentAdminOptions {
  uint16_t debug_port = kDebugPort;  // always on 127.0.0.1; 0 = off
  uint32_t stats_address = kLoopback;  // where metrics and readiness listen (host byte order)
  uint16_t metrics_port = kMetricsPort;  // 0 = off
  uint16_t readiness_port = kReadinessPort;  // 0 = off
};

// Called on the admin threads, concurrently with everything else the agent does.
struct AgentAdminSources {
  std::function<nlohmann::json()> status;       // the enrollment API's {"op":"status"} answer
  std::function<nlohmann::json()> config_dump;  // see ConfigDumpJson
  std::function<nlohmann::json()> workloads;    // see WorkloadsJson
  std::function<std::optional<std::string>()> not_ready;  // nullopt = ready, else why not
  std::function<std::string()> metrics_text;    // Prometheus text exposition
  // /explain: the current policy's answer for the query parameters. An error is a bad or
  // unanswerable query, answered 400 with its message. Optional: without it, no /explain.
  std::function<Result<nlohmann::json>(const std::map<std::string, std::string>& query)> explain;
};

// {"version", "ack": ack, "snapshot": the snapshot through protobuf's JSON printer}.
nlohmann::json ConfigDumpJson(const v1::PolicySnapshot& snapshot, uint64_t version, nlohmann::json ack);
// {"workloads": [pod + "enrolled"]}: every pod the node knows, enrolled or not (outside the mesh).
nlohmann::json WorkloadsJson(const std::vector<inpod::PodSpec>& known, const std::vector<inpod::PodSpec>& enrolled);

AdminRoutes DebugRoutes(const AgentAdminSources& sources);
AdminRoutes ReadinessRoutes(const AgentAdminSources& sources);
AdminRoutes MetricsRoutes(const AgentAdminSources& sources);
// /logging: without ?level= answers the current level; with it, sets spdlog's level first.
AdminResponse LoggingEndpoint(const AdminRequest& request);
// /explain: 200 with the answer, 400 {"error"} for a bad query.
AdminResponse ExplainEndpoint(const AgentAdminSources& sources, const AdminRequest& request);

class AgentAdmin {
 public:
  // Starts the listeners that are not turned off; any that cannot bind fails the whole start.
  static Result<std::unique_ptr<AgentAdmin>> Start(const AgentAdminOptions& options, AgentAdminSources sources);

  const AdminServer* debug() const { return debug_.get(); }
  const AdminServer* metrics() const { return metrics_.get(); }
  const AdminServer* readiness() const { return readiness_.get(); }

 private:
  AgentAdminSources sources_;
  std::unique_ptr<AdminServer> debug_, metrics_, readiness_;
};

}  // namespace ferry::admin
