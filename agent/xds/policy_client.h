// The agent's side of policy discovery: one long-lived PolicyDiscovery stream to the
// controller, on its own thread. Each snapshot the controller pushes is handed to the apply
// callback (the agent installs it atomically through PolicyStore); success is ACKed and the
// snapshot persisted as the last good one, failure is NACKed with the error and the previous
// policy stays in force. A broken stream is retried with jittered exponential backoff; while
// the controller is away the agent keeps enforcing what it has (see LoadPersisted()).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/result.h"
#include "ferry/v1/discovery.pb.h"
#include "ferry/v1/policy.pb.h"

namespace grpc {
class Channel;
class ChannelArguments;
class ClientContext;
}

namespace ferry::xds {

// Opens a channel to the controller at `address` with the client's `args`. The agent passes
// certs::MakeControllerChannelFactory (TLS + node token); there is no insecure default.
using ChannelFactory =
    std::function<std::shared_ptr<grpc::Channel>(const std::string& address, const grpc::ChannelArguments& args)>;

struct PolicyClientOptions {
  std::string controller_address;  // "10.96.0.12:15012"
  ChannelFactory channel_factory;  // required: without it the client never connects
  std::string node_name;
  std::filesystem::path persist_path;  // last good snapshot; empty = not persisted
  std::string agent_version = "ferry-agent";
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{30000};
  // Pings on an idle stream so a controller that vanished without closing is noticed.
  std::chrono::milliseconds keepalive_time{30000};
  std::chrono::milliseconds keepalive_timeout{10000};
  int max_message_bytes = 64 << 20;  // must match the controller's; gRPC's default is 4 MiB
};

struct PolicyClientStatus {
  bool connected = false;        // a stream is open and has delivered a snapshot
  uint64_t applied_version = 0;  // last version the callback accepted (or loaded from disk)
  uint64_t acks = 0;
  uint64_t nacks = 0;
  uint64_t streams = 0;  // streams that delivered at least one snapshot
  std::string last_error;  // why the last stream ended, or the last NACK
};

class PolicyClient {
 public:
  // Called on the client's thread for every snapshot received; an error NACKs it.
  using ApplyFn = std::function<Result<void>(const v1::PolicySnapshot&)>;

  PolicyClient(PolicyClientOptions options, ApplyFn apply);
  ~PolicyClient();  // Stop()
  PolicyClient(const PolicyClient&) = delete;
  PolicyClient& operator=(const PolicyClient&) = delete;

  // The last snapshot ACKed on this node (from persist_path), for the agent to enforce at start-up
  // before the controller answers; nullopt when there is none. The agent is expected to enforce
  // what this returns: its version is reported to the controller as the one in force.
  Result<std::optional<v1::PolicySnapshot>> LoadPersisted();

  void Start();
  // Prompt: cancels the open stream or the backoff wait and joins the thread. Idempotent.
  void Stop();

  PolicyClientStatus Status() const;

 private:
  void Run();
  // One stream, from connect to its end; true when it delivered at least one snapshot.
  bool RunStream();
  v1::PolicyRequest Answer(const v1::PolicyResponse& response);

  const PolicyClientOptions options_;
  const ApplyFn apply_;
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  grpc::ClientContext* context_ = nullptr;  // the open stream, for Stop() to cancel
  PolicyClientStatus status_;
};

}  // namespace ferry::xds
