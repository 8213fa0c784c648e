// The node agent: owns the BPF datapath, the enrolled pods and their listeners, the policy, the
// io_uring proxy and the enrollment API, and keeps them consistent with each other.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/admin/agent_admin.h"
#include "agent/bpf/bpf_datapath.h"
#include "agent/certs/certificate_signer.h"
#include "agent/certs/controller_channel.h"
#include "agent/certs/identity_manager.h"
#include "agent/dispatch/dispatcher.h"
#include "agent/enroll/enroll_server.h"
#include "agent/inpod/pod_registry.h"
#include "agent/metrics/access_log.h"
#include "agent/metrics/agent_gauges.h"
#include "agent/metrics/mesh_metrics.h"
#include "agent/node_tunnels.h"
#include "agent/policy/policy_store.h"
#include "agent/proxy/proxy.h"
#include "agent/xds/policy_client.h"
#include "common/result.h"

namespace ferry::agent {

struct AgentConfig {
  std::string node;
  std::string pod_cgroup;
  std::string pin_dir;
  std::string state_dir;
  std::string enroll_socket;
  std::string policy_file;  // standalone mode: SMI manifests; empty = deny everything
  std::string controller;   // controller mode: gRPC address of ferry-controller (excludes policy_file)
  // Controller mode: the trust bundle the controller is verified against, this node's credential,
  // and the workload identities' trust domain until the controller's snapshot names one.
  std::string controller_ca;
  std::string node_token_file;
  std::string trust_domain = "cluster.local";
  std::chrono::seconds cert_ttl{0};  // requested workload certificate lifetime; 0 = the CA's
  bool allow_ktls = true;            // hand tunnel records to the kernel where it has kTLS
  bool permissive = false;
  bool deny_egress = false;
  std::vector<std::string> inbound_exempt_ips;
  proxy::ProxyOptions proxy;
  admin::AgentAdminOptions admin;  // debug (127.0.0.1:15000), readiness and metrics listeners
  std::string access_log;  // a file, "-" for standard output, or empty: no access log
};

class NodeAgent {
 public:
  static Result<std::unique_ptr<NodeAgent>> Start(const AgentConfig& config);
  ~NodeAgent();

  // Re-reads the policy file; a file that cannot be read keeps the current policy in force.
  Result<void> ReloadPolicy();

 private:
  explicit NodeAgent(AgentConfig config);
  std::string HandleRequest(const enroll::Request& request);
  std::string StatusReply();  // agent_status.cc
  // The operator endpoints (agent/admin), fed from the same state as StatusReply.
  Result<void> StartAdmin();
  std::optional<std::string> NotReady() const;  // nullopt once the proxy runs under a policy
  std::string RenderMetrics();
  metrics::AgentGauges MetricsGauges();
  // A pod the CNI reported: remembered, and enrolled iff its namespace is in the mesh.
  Result<bool> AddPod(const inpod::PodSpec& spec);
  Result<void> RemovePod(const std::string& key);
  // Enrolls/releases known pods to match the current policy's mesh namespaces.
  void ReconcileEnrollment();
  bool InMesh(const std::string& namespace_name) const;
  Result<void> EnrollLocked(const inpod::PodSpec& spec);
  Result<void> UnenrollLocked(const std::string& key);
  void RestorePods();
  Result<void> PersistPods();
  Result<void> ApplyPolicy(ferry::v1::PolicySnapshot snapshot);
  Result<void> StartPolicyClient();
  // Controller mode: the identity manager and the tunnel legs built on it.
  Result<void> StartIdentities();
  // Called with enroll_mu_ held: the identities the enrolled pods need.
  void UpdateWantedIdentities();

  AgentConfig config_;
  std::mutex enroll_mu_;  // serialises enrollment changes and their persistence
  std::map<std::string, inpod::PodSpec> known_;  // every pod the CNI reported, by key (enroll_mu_)
  std::unique_ptr<BpfDatapath> bpf_;
  inpod::PodRegistry pods_;
  policy::PolicyStore policy_;
  metrics::MeshMetrics metrics_;  // recorded by the dispatcher and its routers, rendered on :15020
  std::unique_ptr<metrics::AccessLog> access_log_;  // --access-log
  std::unique_ptr<dispatch::OriginalDestinations> orig_dsts_;
  std::unique_ptr<dispatch::SocketFactory> sockets_;
  std::string trust_bundle_pem_;  // controller mode
  certs::NodeTokenSource node_token_source_;
  std::unique_ptr<certs::CertificateSigner> signer_;
  std::unique_ptr<certs::IdentityManager> identities_;
  std::unique_ptr<NodeTunnels> tunnels_;
  std::unique_ptr<dispatch::Dispatcher> dispatcher_;
  std::unique_ptr<proxy::Proxy> proxy_;
  std::unique_ptr<enroll::EnrollServer> server_;
  std::unique_ptr<xds::PolicyClient> policy_client_;
  std::unique_ptr<admin::AgentAdmin> admin_;  // stopped first: its handlers read everything above
};

}  // namespace ferry::agent
