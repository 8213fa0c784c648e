// ferry-controller's core: reads a manifest directory (re-read on every change, see
// ManifestWatcher), compiles it into per-node policy (PolicyCompiler), and serves it to node
// agents over the PolicyDiscovery gRPC stream (PolicyDiscoveryService + SnapshotPublisher).
//
// The API has no TLS yet, so the controller listens only on an explicit address (loopback or
// the node underlay), never on a wildcard.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "common/result.h"
#include "controlplane/server/controller_status.h"
#include "controlplane/server/policy_compiler.h"
#include "controlplane/server/snapshot_publisher.h"
#include "controlplane/server/workload_source.h"

namespace ferry::controlplane {

class ManifestWatcher;
class PolicyDiscoveryService;

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
};

// Checks an address for the no-TLS API: IPv4 with a port, not a wildcard.
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

 private:
  explicit Controller(ControllerOptions options);
  Result<void> StartServer();
  void LogRejectionChanges(const CompiledPolicy& policy);

  ControllerOptions options_;
  std::unique_ptr<SnapshotPublisher> publisher_;
  std::unique_ptr<PolicyDiscoveryService> service_;
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
  std::string last_error_;
  std::shared_ptr<const CompiledPolicy> policy_;
};

}  // namespace ferry::controlplane
