// What the controller reports about itself: the last reload, the rejected resources, and the
// per-node ACK/NACK state. Rendered as JSON into the status file (`--status-file`), which the
// controller rewrites on every change so tests and `ferryctl` can read it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.h"
#include "controlplane/server/policy_compiler.h"
#include "controlplane/server/snapshot_publisher.h"

namespace ferry::controlplane {

// Certificate issuance counters (CertificateSigningService).
struct IssuanceStats {
  uint64_t signed_count = 0;
  uint64_t refused_count = 0;
  // "not-on-node" (PERMISSION_DENIED), "invalid-request" (INVALID_ARGUMENT), "ca-failure".
  std::map<std::string, uint64_t> refused_by_reason;
  std::string last_refusal;  // node "node-1": CSR refused: ...
};

struct ControllerStatus {
  std::string manifest_dir;
  std::string listen_address;
  std::string mesh_name;
  uint64_t reloads = 0;     // completed reloads, the initial load included
  uint64_t reload_failures = 0;  // reloads that could not read the manifests (policy kept)
  std::string last_error;   // why the last reload could not read its inputs; empty when fine
  // Cumulative: each time a resource's rejection first appears, by smi::Rejection::code.
  std::map<std::string, uint64_t> rejected_total_by_code;
  std::set<std::string> monitored_namespaces;
  std::vector<ReportedRejection> rejections;
  std::vector<KeptResource> kept;  // resources in force from an earlier read
  std::vector<NodeStatus> nodes;
  std::string trust_domain;
  IssuanceStats certificates;
};

// {"manifestDir": .., "rejections": [{"file","line","kind","namespace","name","reason",
//   "message","keptLastGood"}], "nodes": [{"node","version","streams","ackedVersion",
//   "nackedVersion","nackError","agentVersion"}], "trustDomain": ..,
//   "certificates": {"signed","refused","refusedByReason": {..},"lastRefusal"}, ...}
std::string RenderStatusJson(const ControllerStatus& status);

// Rewrites the status file off the caller's thread (callers may be gRPC reactions, which must
// not block on disk). Bursts of changes coalesce into one write.
class StatusFileWriter {
 public:
  StatusFileWriter(std::filesystem::path path, std::function<ControllerStatus()> collect);
  ~StatusFileWriter();  // writes any pending change, then stops
  StatusFileWriter(const StatusFileWriter&) = delete;
  StatusFileWriter& operator=(const StatusFileWriter&) = delete;

  void MarkDirty();  // never blocks on I/O

 private:
  void Run();

  std::filesystem::path path_;
  std::function<ControllerStatus()> collect_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ferry::controlplane
