#include "agent/xds/policy_client.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <random>

#include "agent/xds/backoff.h"
#include "agent/xds/snapshot_file.h"
#include "ferry/v1/discovery.grpc.pb.h"

namespace ferry::xds {
namespace {

grpc::ChannelArguments ChannelArgs(const PolicyClientOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(options.keepalive_time.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(options.keepalive_timeout.count()));
  // The stream is silent while policy is unchanged; by default gRPC stops pinging after two
  // pings without data, which would leave a vanished controller unnoticed.
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // A fresh channel per attempt (see Run), so gRPC's own reconnect backoff never delays ours;
  // a private subchannel pool keeps it from sharing a connection with an older channel.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return args;
}

}  // namespace

PolicyClient::PolicyClient(PolicyClientOptions options, ApplyFn apply)
    : options_(std::move(options)), apply_(std::move(apply)) {}

PolicyClient::~PolicyClient() { Stop(); }

Result<std::optional<v1::PolicySnapshot>> PolicyClient::LoadPersisted() {
  if (options_.persist_path.empty()) return std::optional<v1::PolicySnapshot>();
  Result<std::optional<v1::PolicySnapshot>> loaded = LoadSnapshotFile(options_.persist_path);
  if (loaded.ok() && loaded.value().has_value()) {
    std::lock_guard lock(mu_);
    if (status_.applied_version == 0) status_.applied_version = loaded.value()->version();
  }
  return loaded;
}

void PolicyClient::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Run(); });
}

void PolicyClient::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (context_ != nullptr) context_->TryCancel();
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

PolicyClientStatus PolicyClient::Status() const {
  std::lock_guard lock(mu_);
  return status_;
}

void PolicyClient::Run() {
  JitteredBackoff backoff(options_.initial_backoff, options_.max_backoff, std::random_device{}());
  for (;;) {
    const bool delivered = RunStream();
    if (delivered) backoff.Reset();
    const std::chrono::milliseconds delay = backoff.Next();
    std::unique_lock lock(mu_);
    if (stopping_) return;
    spdlog::warn("policy stream to {} ended ({}); retrying in {} ms, enforcing version {} meanwhile",
                 options_.controller_address, status_.last_error, delay.count(), status_.applied_version);
    if (wake_.wait_for(lock, delay, [&] { return stopping_; })) return;
  }
}

bool PolicyClient::RunStream() {
  if (!options_.channel_factory) {
    // A wiring bug, not a network fault: say so on every attempt rather than fall back to plaintext.
    std::lock_guard lock(mu_);
    status_.last_error = "no controller channel factory configured";
    spdlog::error("policy client: {}; not connecting", status_.last_error);
    return false;
  }
  std::shared_ptr<grpc::Channel> channel = options_.channel_factory(options_.controller_address, ChannelArgs(options_));
  std::unique_ptr<v1::PolicyDiscovery::Stub> stub = v1::PolicyDiscovery::NewStub(channel);
  grpc::ClientContext context;
  v1::PolicyRequest first;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    context_ = &context;
    first.set_version_applied(status_.applied_version);
  }
  first.set_node(options_.node_name);
  first.set_agent_version(options_.agent_version);

  std::unique_ptr<grpc::ClientReaderWriter<v1::PolicyRequest, v1::PolicyResponse>> stream = stub->StreamPolicy(&context);
  bool delivered = false;
  bool write_failed = !stream->Write(first);
  v1::PolicyResponse response;
  while (!write_failed && stream->Read(&response)) {
    if (!delivered) {
      delivered = true;
      std::lock_guard lock(mu_);
      status_.connected = true;
      ++status_.streams;
    }
    write_failed = !stream->Write(Answer(response));
  }
  // After a failed write the stream may still have unread messages; cancel so Finish() returns.
  if (write_failed) context.TryCancel();
  grpc::Status status = stream->Finish();
  std::lock_guard lock(mu_);
  context_ = nullptr;
  status_.connected = false;
  status_.last_error = status.ok() ? "closed by the controller" : status.error_message();
  return delivered;
}

v1::PolicyRequest PolicyClient::Answer(const v1::PolicyResponse& response) {
  v1::PolicyRequest answer;
  answer.set_response_nonce(response.nonce());
  Result<void> applied = response.snapshot().version() == response.version()
                             ? apply_(response.snapshot())
                             : Result<void>(MakeError("response version " + std::to_string(response.version()) +
                                                      " differs from its snapshot's version " +
                                                      std::to_string(response.snapshot().version())));
  if (!applied.ok()) {
    std::lock_guard lock(mu_);
    ++status_.nacks;
    status_.last_error = "NACK of version " + std::to_string(response.version()) + ": " + applied.error().Message();
    spdlog::warn("policy version {} refused: {}; still enforcing version {}", response.version(),
                 applied.error().Message(), status_.applied_version);
    answer.set_version_applied(status_.applied_version);
    answer.mutable_error_detail()->set_code(applied.error().code);
    answer.mutable_error_detail()->set_message(applied.error().Message());
    return answer;
  }
  {
    std::lock_guard lock(mu_);
    ++status_.acks;
    status_.applied_version = response.version();
  }
  answer.set_version_applied(response.version());
  if (!options_.persist_path.empty()) {
    Result<void> persisted = PersistSnapshot(options_.persist_path, response.snapshot());
    if (!persisted.ok()) {
      // Enforced but not saved: a restart before the next save would fall back to an older one.
      spdlog::warn("policy version {} applied but not persisted: {}", response.version(), persisted.error().Message());
    }
  }
  return answer;
}

}  // namespace ferry::xds
