// "Would this connection / request be allowed, and by what?" answered over one PolicySnapshot,
// the way the node agent's data path decides it (agent/dispatch/dispatcher.cc, http_routes.cc):
//
//   source outside the mesh (its IP is no mesh workload): its traffic is not captured; a mesh
//     destination sees plaintext on its inbound listener: denied unless the mesh is permissive
//     or the source IP is exempt (probes); a destination outside the mesh is none of Ferry's
//     business (pass-through).
//   mesh source → Service ns/name:port: no such port → deny (the VIP is not resolved); a
//     TrafficSplit root → one verdict per backend (with its weight); otherwise the endpoints.
//   each endpoint (or a pod IP): a mesh workload → reserved port deny, else EvaluateL4; when only
//     HTTPRouteGroup rules could allow, the request decides (EvaluateHttp, or "needs a request"
//     when none was given); not a mesh workload → egress pass-through unless the mesh denies egress.
// Endpoints are grouped by destination identity: one verdict per distinct service account.
// Every decision is delegated to PolicyEvaluator; nothing here matches rules itself.
//
// Not modelled: standalone agents (no mTLS tunnels between nodes), where a cross-node connection
// reaches its destination as plaintext and is refused as unauthenticated.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/http/http_message.h"
#include "agent/policy/evaluator.h"
#include "common/result.h"

namespace ferry::policy {

struct ExplainQuery {
  // The source: a pod IP (host byte order; a mesh workload or not) or, without one, an identity.
  std::optional<uint32_t> source_ip;
  std::optional<Identity> source_identity;
  // The destination: a Service by namespace/name, or an address (a pod IP).
  std::string service_ns, service_name;
  std::optional<uint32_t> destination_ip;
  uint32_t port = 0;  // a Service: 0 = its only port
  // A request (both or neither): without one, the connection alone is explained.
  std::string method, path;
  std::vector<http::Header> headers;
};

enum class Decision { kAllow, kDeny, kNeedsRequest, kMixed };
const char* DecisionName(Decision decision);  // "allow" | "deny" | "needs-request" | "mixed"

// Which branch of the data path decides.
enum class Branch {
  kPolicy,            // SMI L4 policy (a TCP rule, or no rule at all)
  kHttpPolicy,        // HTTPRouteGroup rules, per request
  kEgress,            // destination outside the mesh: passed through (or denied: deny_egress)
  kInboundPlaintext,  // source outside the mesh → mesh destination: exempt/permissive or denied
  kPassThrough,       // neither end in the mesh: Ferry is not involved
  kReservedPort,      // the agent's own ports 15000-15099
  kNoEndpoints,       // a service (or split backend) with no ready endpoint, or no such port
  kBadRequest,        // the request itself is refused (400/405) before any policy
};
const char* BranchName(Branch branch);

// The verdict for one destination identity (or the non-mesh endpoints) of the query.
struct ExplainVerdict {
  Decision decision = Decision::kDeny;
  Branch branch = Branch::kPolicy;
  std::string backend;    // a TrafficSplit backend service (bare name); empty otherwise
  uint32_t weight = 0;    // its weight (split only)
  std::string identity;   // "ns/sa" of the destination workloads; empty outside the mesh
  std::vector<std::string> endpoints;  // "ip:port" the verdict covers
  uint32_t port = 0;      // the port on the workload (after targetPort)
  std::string reason;
  std::string traffic_target;  // "ns/name"
  std::string rule;            // "TCPRoute name" | "HTTPRouteGroup ns/name match m"
};

struct Explanation {
  Decision decision = Decision::kDeny;
  std::string reason;          // the single verdict's, or a summary of several
  std::string traffic_target;  // of the deciding verdict(s), comma separated when several
  std::string rule;
  // What the query resolved to.
  std::string source_ip;        // empty when the query gave an identity
  std::string source_identity;  // "ns/sa"; empty outside the mesh
  bool source_in_mesh = false;
  std::string destination;      // "service ns/name:port" | "ip:port"
  std::string split;            // "ns/name" of the TrafficSplit of a root service
  bool http_declared = false;   // the service port declares HTTP
  std::string method, path;     // the request explained; empty for a connection
  std::vector<ExplainVerdict> verdicts;
  uint64_t policy_version = 0;
};

// Decides `query` against `policy`. Errors are bad queries: no source or destination, a service
// the snapshot does not know, a service with several ports and no port given (the message lists
// them), a method without a path.
Result<Explanation> Explain(const PolicyEvaluator& policy, const ExplainQuery& query);

// The debug endpoint's query string: src=IP|NS/SA, dst=NS/SVC|IP, port=N, method=M, path=/p,
// header.NAME=VALUE (any number). Errors name the bad parameter.
Result<ExplainQuery> ParseExplainQuery(const std::map<std::string, std::string>& params);

// The answer as JSON (lowerCamelCase keys, like the other debug answers).
nlohmann::json ExplanationToJson(const Explanation& explanation);

}  // namespace ferry::policy
