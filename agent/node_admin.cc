// The agent's side of the operator endpoints (agent/admin): what /config_dump, /workloads, /certs,
// /connections, /healthz/ready and /metrics show, read from the agent's live state. /certs and
// /connections reuse the enrollment API's status answer, so both surfaces always agree. /explain
// asks the policy in force, through the same evaluator the data path uses.
#include <nlohmann/json.hpp>

#include "agent/node_agent.h"
#include "agent/policy/explain.h"

namespace ferry::agent {

using nlohmann::json;

std::optional<std::string> NodeAgent::NotReady() const {
  if (!proxy_) return "the proxy is not running";
  if (policy_.Current()->version() == 0) return "no policy snapshot applied yet";
  return std::nullopt;
}

std::string NodeAgent::RenderMetrics() { return metrics_.RenderPrometheusText(); }

// Gauges whose values live elsewhere in the agent, read at each scrape.
metrics::AgentGauges NodeAgent::MetricsGauges() {
  metrics::AgentGauges gauges;
  if (identities_) {
    for (const auto& status : identities_->Status()) {
      if (!status.lifetime) continue;
      gauges.certificates.push_back(
          {status.workload.ToString(),
           std::chrono::duration_cast<std::chrono::seconds>(status.lifetime->not_after.time_since_epoch()).count()});
    }
  }
  if (proxy_) metrics::AddProxyGauges(proxy_->Stats(), proxy_->ListConnections(), gauges);
  return gauges;
}

Result<void> NodeAgent::StartAdmin() {
  admin::AgentAdminSources sources;
  sources.status = [this] { return json::parse(StatusReply()); };
  sources.config_dump = [this] {
    auto current = policy_.Current();
    json ack;
    if (policy_client_) {
      auto s = policy_client_->Status();
      ack = {{"mode", "controller"},  {"controller", config_.controller}, {"connected", s.connected},
             {"appliedVersion", s.applied_version}, {"acks", s.acks}, {"nacks", s.nacks},
             {"lastError", s.last_error}};
    } else {
      ack = {{"mode", "policy-file"}, {"policyFile", config_.policy_file}};
    }
    json dump = admin::ConfigDumpJson(current->snapshot(), current->version(), std::move(ack));
    dump["node"] = config_.node;
    return dump;
  };
  sources.workloads = [this] {
    std::vector<inpod::PodSpec> known;
    {
      std::lock_guard lock(enroll_mu_);
      for (const auto& [key, spec] : known_) known.push_back(spec);
    }
    json out = admin::WorkloadsJson(known, pods_.Specs());
    out["node"] = config_.node;
    return out;
  };
  sources.not_ready = [this] { return NotReady(); };
  sources.metrics_text = [this] { return RenderMetrics(); };
  sources.explain = [this](const std::map<std::string, std::string>& params) -> Result<json> {
    auto query = policy::ParseExplainQuery(params);
    if (!query.ok()) return query.error();
    auto current = policy_.Current();  // one snapshot for the whole answer
    auto answer = policy::Explain(*current, *query);
    if (!answer.ok()) return answer.error();
    json out = policy::ExplanationToJson(*answer);
    out["node"] = config_.node;
    return out;
  };
  auto admin = admin::AgentAdmin::Start(config_.admin, std::move(sources));
  if (!admin.ok()) return admin.error();
  admin_ = std::move(admin).value();
  return Ok();
}

}  // namespace ferry::agent
