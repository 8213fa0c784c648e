#include "controlplane/server/controller.h"

#include <spdlog/spdlog.h>

#include <charconv>

#include "common/atomic_file.h"
#include "common/ipv4.h"
#include "controlplane/server/certificate_service.h"
#include "controlplane/server/discovery_service.h"
#include "controlplane/server/manifest_watcher.h"
#include "controlplane/server/node_auth.h"
#include "controlplane/server/workload_placement.h"
#include "controlplane/smi/parse.h"

namespace ferry::controlplane {
namespace {

struct HostPort {
  uint32_t addr = 0;
  unsigned port = 0;
};

Result<HostPort> ParseListenAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return MakeError("listen address \"" + address + "\" needs IPv4:port", EINVAL);
  std::optional<uint32_t> addr = ParseIpv4(std::string_view(address).substr(0, colon));
  const std::string_view port_text = std::string_view(address).substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (!addr || ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return MakeError("listen address \"" + address + "\" is not IPv4:port", EINVAL);
  }
  return HostPort{*addr, port};
}

uint64_t WallClockMillis() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

Result<void> ValidateListenAddress(const std::string& address) {
  Result<HostPort> parsed = ParseListenAddress(address);
  if (!parsed.ok()) return parsed.error();
  if (parsed->addr == 0) {
    return MakeError("refusing to listen on " + address + ": give the loopback or node (underlay) address, not a wildcard",
                     EINVAL);
  }
  return Ok();
}

Controller::Controller(ControllerOptions options)
    : options_(std::move(options)),
      publisher_(std::make_unique<SnapshotPublisher>(WallClockMillis())),
      compiler_(options_.compiler) {}

Result<std::unique_ptr<Controller>> Controller::Start(ControllerOptions options) {
  FERRY_TRY(ValidateListenAddress(options.listen_address));
  std::error_code ec;
  if (!std::filesystem::is_directory(options.manifest_dir, ec)) {
    return MakeError("manifest directory " + options.manifest_dir.string() + " is not a readable directory", ENOTDIR);
  }
  if (!options.workload_source) {
    options.watched_inventory_file = DefaultWorkloadFile(options.manifest_dir);
    options.workload_source = std::make_unique<FileWorkloadSource>(options.watched_inventory_file);
  }
  std::unique_ptr<Controller> controller(new Controller(std::move(options)));
  Controller* self = controller.get();
  FERRY_TRY(self->SetUpIdentity());
  if (!self->options_.status_file.empty()) {
    self->status_writer_ = std::make_unique<StatusFileWriter>(self->options_.status_file, [self] { return self->Status(); });
    self->publisher_->SetStatusObserver([self] { self->status_writer_->MarkDirty(); });
  }
  // Watch first, then load: a change made while loading is seen and causes one more reload.
  Result<std::unique_ptr<ManifestWatcher>> watcher = ManifestWatcher::Start(
      WatchOptions{self->options_.manifest_dir, self->options_.watched_inventory_file, self->options_.debounce,
                   std::max(self->options_.debounce * 10, std::chrono::milliseconds(1000))},
      [self] { self->Reload(); });
  if (!watcher.ok()) return watcher.error();
  self->watcher_ = std::move(watcher).value();
  self->Reload();
  FERRY_TRY(self->StartServer());
  if (self->status_writer_) self->status_writer_->MarkDirty();  // now with the bound address
  spdlog::info("ferry-controller serving policy and certificates (TLS, {} node token(s)) on {} from {}",
               self->authenticator_->node_count(), self->address(), self->options_.manifest_dir.string());
  return controller;
}

Result<void> Controller::SetUpIdentity() {
  // Fail closed: without node tokens any caller could fetch any node's policy and certificates.
  if (options_.node_tokens_file.empty()) {
    return MakeError("no --node-tokens: the controller will not serve agents it cannot authenticate");
  }
  Result<std::shared_ptr<NodeAuthenticator>> authenticator = NodeAuthenticator::FromFile(options_.node_tokens_file);
  if (!authenticator.ok()) return authenticator.error();
  authenticator_ = std::move(authenticator).value();

  CaSettings settings = options_.ca;
  settings.trust_domain = options_.compiler.mesh.trust_domain;
  Result<ControllerCa> ca = LoadOrCreateCa(settings);
  if (!ca.ok()) return ca.error();
  ca_ = std::make_unique<ControllerCa>(std::move(ca).value());
  if (!options_.trust_bundle_out.empty()) {
    std::error_code ec;  // WriteFileAtomically reports a directory that is still missing
    if (options_.trust_bundle_out.has_parent_path()) {
      std::filesystem::create_directories(options_.trust_bundle_out.parent_path(), ec);
    }
    Result<void> written = WriteFileAtomically(options_.trust_bundle_out, ca_->trust_bundle_pem, 0644);
    if (!written.ok()) return MakeError("--trust-bundle-out: " + written.error().Message());
  }
  certificate_service_ = std::make_unique<CertificateSigningService>(
      *ca_, authenticator_, [this] { return Placement(); },
      [this] {
        if (status_writer_) status_writer_->MarkDirty();
      });
  return Ok();
}

std::shared_ptr<const WorkloadPlacement> Controller::Placement() const {
  std::lock_guard lock(status_mu_);
  return placement_;
}

Result<void> Controller::StartServer() {
  Result<ServingCertificate> serving = IssueServingCertificate(*ca_, options_.serving_dns_name, options_.serving_ttl);
  if (!serving.ok()) return MakeError("issuing the serving certificate: " + serving.error().Message());
  serving_spiffe_id_ = serving->spiffe_id;
  // Agents authenticate with a node token, not a client certificate.
  grpc::SslServerCredentialsOptions tls(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  tls.pem_key_cert_pairs.push_back({serving->private_key_pem, serving->certificate_chain_pem});
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(tls);
  credentials->SetAuthMetadataProcessor(std::make_shared<TokenAuthProcessor>(authenticator_));

  service_ = std::make_unique<PolicyDiscoveryService>(*publisher_, authenticator_);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options_.listen_address, credentials, &port);
  builder.RegisterService(service_.get());
  builder.RegisterService(certificate_service_.get());
  builder.SetMaxReceiveMessageSize(options_.max_message_bytes);
  builder.SetMaxSendMessageSize(options_.max_message_bytes);
  // gRPC sets SO_REUSEPORT by default: a second controller would share the port silently.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Agents send keepalive pings every 30 s to notice a dead controller; accept them.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  server_ = builder.BuildAndStart();
  if (!server_ || port == 0) return MakeError("cannot listen on " + options_.listen_address, EADDRINUSE);
  const size_t colon = options_.listen_address.rfind(':');
  std::lock_guard lock(status_mu_);  // the status writer reads it
  bound_address_ = options_.listen_address.substr(0, colon) + ":" + std::to_string(port);
  return Ok();
}

Controller::~Controller() { Stop(); }

void Controller::Stop() {
  if (watcher_) watcher_->Stop();
  if (server_) {
    // A deadline in the past cancels every open stream at once instead of waiting for agents.
    server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
  }
  status_writer_.reset();  // writes the final state
  watcher_.reset();
}

std::string Controller::address() const {
  std::lock_guard lock(status_mu_);
  return bound_address_;
}

void Controller::Reload() {
  std::lock_guard reload_lock(reload_mu_);
  // New or removed nodes in the token file take effect without a restart (SIGHUP or any reload).
  if (Result<void> tokens = authenticator_->Reload(); !tokens.ok()) {
    spdlog::error("node tokens: {}; the previous tokens stay in force", tokens.error().Message());
  }
  smi::ParseOptions parse_options;
  parse_options.cluster_domain = options_.cluster_domain;
  Result<smi::ResourceSet> resources = smi::LoadManifestPath(options_.manifest_dir, parse_options);
  if (!resources.ok()) {
    spdlog::error("reload: {}; the current policy stays in force", resources.error().Message());
    {
      std::lock_guard lock(status_mu_);
      ++reload_failures_;
      last_error_ = resources.error().Message();
    }
    if (status_writer_) status_writer_->MarkDirty();
    return;
  }
  std::string error;
  Result<WorkloadInventory> inventory = options_.workload_source->Load();
  if (inventory.ok()) {
    inventory_ = std::move(inventory).value();
  } else {
    error = "workload inventory: " + inventory.error().Message();
    spdlog::error("{}; using the previous inventory", error);
  }
  auto policy = std::make_shared<const CompiledPolicy>(compiler_.Compile(std::move(resources).value(), inventory_));
  auto placement = std::make_shared<const WorkloadPlacement>(inventory_);
  LogRejectionChanges(*policy);
  {
    std::lock_guard lock(status_mu_);
    ++reloads_;
    last_error_ = error;
    policy_ = policy;
    placement_ = placement;
  }
  std::vector<std::string> changed = publisher_->SetPolicy(policy);
  spdlog::info("policy reloaded: {} authorization(s), {} split(s), {} service(s), {} rejected; {} node(s) updated",
               policy->base.authorizations_size(), policy->base.splits_size(), policy->base.services_size(),
               policy->rejections.size(), changed.size());
}

void Controller::LogRejectionChanges(const CompiledPolicy& policy) {
  std::set<std::string> now;
  std::map<std::string, uint64_t> new_by_code;
  for (const ReportedRejection& r : policy.rejections) {
    const std::string message = r.Message();
    // A rejection that stays across reloads is counted (and logged) once.
    if (now.insert(message).second && !logged_rejections_.contains(message)) {
      spdlog::warn("{}", message);
      ++new_by_code[r.rejection.code];
    }
  }
  if (!new_by_code.empty()) {
    std::lock_guard lock(status_mu_);
    for (const auto& [code, count] : new_by_code) rejected_total_by_code_[code] += count;
  }
  for (const std::string& message : logged_rejections_) {
    if (!now.contains(message)) spdlog::info("resolved: {}", message);
  }
  logged_rejections_ = std::move(now);
}

ControllerStatus Controller::Status() const {
  ControllerStatus status;
  status.manifest_dir = options_.manifest_dir.string();
  status.mesh_name = options_.compiler.mesh.mesh_name;
  {
    std::lock_guard lock(status_mu_);
    status.listen_address = bound_address_;
    status.reloads = reloads_;
    status.reload_failures = reload_failures_;
    status.rejected_total_by_code = rejected_total_by_code_;
    status.last_error = last_error_;
    if (policy_) {
      status.monitored_namespaces = policy_->monitored_namespaces;
      status.rejections = policy_->rejections;
      status.kept = policy_->kept;
    }
  }
  status.nodes = publisher_->Nodes();
  status.trust_domain = options_.compiler.mesh.trust_domain;
  if (certificate_service_) status.certificates = certificate_service_->Stats();
  return status;
}

}  // namespace ferry::controlplane
