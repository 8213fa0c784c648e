// ferry-controller's core: reads a manifest directory (re-read on every change, see
// ManifestWatcher), compiles it into per-node policy (PolicyCompiler), and serves it to node
// agents over the PolicyDiscovery gRPC stream (PolicyDiscoveryService + SnapshotPublisher).
// It also runs the mesh CA (ControllerCa) and signs workload certificates for the pods
// scheduled on the asking node (CertificateSigningService).
//
// The gRPC port is TLS only, with a serving certificate the controller issues itself from its
// CA (agents verify it against the trust bundle, as "ferry-controller"), and every call must
// carry a node token (NodeAuthenticator). It still listens only on an explicit address.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/result.h"
#include "controlplane/server/controller_ca.h"
#include "controlplane/server/controller_status.h"
#include "controlplane/server/policy_compiler.h"
#include "controlplane/server/snapshot_publisher.h"
#include "controlplane/server/workload_source.h"

namespace ferry::controlplane {

class CertificateSigningService;
class ManifestWatcher;
class NodeAuthenticator;
class PolicyDiscoveryService;
class WorkloadPlacement;

inline constexpr int kMaxPolicyMessageBytes = 64 << 20;  // gRPC's default of 4 MiB is too small

struct ControllerOptions {
  std::filesystem::path manifest_dir;
  std::string listen_address;  // "IPv4:port"; port 0 picks a free port (see Controller::address())
  CompilerOptions compiler;
  std::string cluster_domain = "cluster.local";  // DNS suffix accepted in service names
  std::filesystem::path status_file;             // empty: no status file
  // Default: FileWorkloadSource(DefaultWorkloadFile(manifest_dir)), watched with the manifests.
  std::unique_ptr<WorkloadSource> workload_source;
  std::filesystem::path watched_inventory_file;  // set automatically for the default source
  std::chrono::milliseconds debounce{100};
  int max_message_bytes = kMaxPolicyMessageBytes;

  // Identity. The CA's trust domain is compiler.mesh.trust_domain (also sent to agents in
  // MeshConfig); ca.trust_domain is ignored.
  CaSettings ca;
  std::filesystem::path trust_bundle_out;  // written (atomically) at start when set
  // JSON {"<node>": "<token>"}; required: without it no agent could be told apart (fail closed).
  std::filesystem::path node_tokens_file;
  std::string serving_dns_name = kControllerDnsName;
  // The serving certificate is issued at every start; it outlives workload leaves so a
  // long-running controller stays reachable (capped by the CA's own validity).
  std::chrono::seconds serving_ttl = std::chrono::hours(24 * 365);
};

// Checks a listen address: IPv4 with a port, not a wildcard.
Result<void> ValidateListenAddress(const std::string& address);

class Controller {
 public:
  // Loads the manifests once, starts watching them and starts serving. Fails when the directory
  // cannot be read or the address cannot be bound.
  static Result<std::unique_ptr<Controller>> Start(ControllerOptions options);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Stops watching, ends every agent stream and stops serving. Idempotent.
  void Stop();

  std::string address() const;  // the bound "IPv4:port"

  // Re-reads the manifest directory and the workload inventory now, and pushes what changed.
  // The watcher calls it; callable from any thread.
  void Reload();

  ControllerStatus Status() const;
  const SnapshotPublisher& publisher() const { return *publisher_; }
  const ControllerCa& ca() const { return *ca_; }
  const std::string& serving_spiffe_id() const { return serving_spiffe_id_; }

 private:
  explicit Controller(ControllerOptions options);
  Result<void> SetUpIdentity();
  Result<void> StartServer();
  std::shared_ptr<const WorkloadPlacement> Placement() const;
  void LogRejectionChanges(const CompiledPolicy& policy);

  ControllerOptions options_;
  std::unique_ptr<SnapshotPublisher> publisher_;
  std::unique_ptr<PolicyDiscoveryService> service_;
  std::unique_ptr<ControllerCa> ca_;
  std::shared_ptr<NodeAuthenticator> authenticator_;
  std::unique_ptr<CertificateSigningService> certificate_service_;
  std::string serving_spiffe_id_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<ManifestWatcher> watcher_;
  std::unique_ptr<StatusFileWriter> status_writer_;

  std::mutex reload_mu_;  // one reload at a time; guards compiler_ and inventory_
  PolicyCompiler compiler_;
  WorkloadInventory inventory_;
  std::set<std::string> logged_rejections_;

  mutable std::mutex status_mu_;  // guards what Status() reads; the status writer thread reads it
  std::string bound_address_;
  uint64_t reloads_ = 0;
  uint64_t reload_failures_ = 0;
  std::map<std::string, uint64_t> rejected_total_by_code_;
  std::string last_error_;
  std::shared_ptr<const CompiledPolicy> policy_;
  std::shared_ptr<const WorkloadPlacement> placement_;
};

}  // namespace ferry::controlplane
