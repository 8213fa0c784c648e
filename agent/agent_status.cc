// The enrollment API's "status" answer: what an operator (or a test) needs to see that the mesh
// carries a connection the way it claims — each live connection with its identities and TLS mode,
// the proxy's counters, and the workload certificates this node holds (never keys).
#include <nlohmann/json.hpp>

#include "agent/node_agent.h"
#include "agent/tunnel/tunnel_leg.h"

namespace ferry::agent {

namespace {

using nlohmann::json;

int64_t UnixSeconds(identity::SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

json ConnectionJson(const proxy::LiveConnection& c) {
  json j = {{"client", c.client.ToString()}, {"target", c.target.ToString()},
            {"bytesOut", c.bytes_client_to_upstream}, {"bytesBack", c.bytes_upstream_to_client},
            {"ageMs", c.age.count()}, {"connecting", c.connecting}, {"tlsMode", c.tls_mode}};
  if (c.info) {
    j["kind"] = c.info->kind;
    j["source"] = c.info->source;
    j["destination"] = c.info->destination;
    j["destinationPort"] = c.info->destination_port;
    j["sourceIdentity"] = c.info->source_ns + "/" + c.info->source_sa;
    j["destinationIdentity"] = c.info->destination_ns + "/" + c.info->destination_sa;
  }
  return j;
}

json ProxyStatsJson(const proxy::ProxyStats& s) {
  return {{"accepted", s.accepted},           {"denied", s.denied},
          {"active", s.active},               {"completed", s.completed},
          {"resets", s.resets},               {"connectFailures", s.connect_failures},
          {"bytesOut", s.bytes_client_to_upstream}, {"bytesBack", s.bytes_upstream_to_client},
          {"setupsActive", s.setups_active},  {"setupsFailed", s.setups_failed},
          {"setupsRefusedOverLimit", s.setups_refused_over_limit},
          {"legsKtls", s.legs_ktls},          {"legsUserspace", s.legs_userspace}, {"legsResumed", s.legs_resumed}};
}

}  // namespace

std::string NodeAgent::StatusReply() {
  json connections = json::array();
  for (const auto& c : proxy_->ListConnections()) connections.push_back(ConnectionJson(c));
  json identities = json::array();
  if (identities_) {
    for (const auto& s : identities_->Status()) {
      json id = {{"workload", s.workload.ToString()}, {"spiffeId", s.spiffe_id}, {"serial", s.serial_hex},
                 {"serving", s.serving}, {"failures", s.consecutive_failures}, {"lastError", s.last_error}};
      if (s.lifetime) {
        id["notBefore"] = UnixSeconds(s.lifetime->not_before);
        id["notAfter"] = UnixSeconds(s.lifetime->not_after);
      }
      identities.push_back(std::move(id));
    }
  }
  json reply = {{"ok", true},
                {"node", config_.node},
                {"policyVersion", policy_.Current()->version()},
                {"kernelTls", tunnels_ != nullptr && config_.allow_ktls && tunnel::KernelTlsUsable()},
                {"proxy", ProxyStatsJson(proxy_->Stats())},
                {"connections", connections},
                {"identities", identities}};
  return reply.dump();
}

}  // namespace ferry::agent
