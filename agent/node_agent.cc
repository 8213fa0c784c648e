#include "agent/node_agent.h"

#include <grpcpp/support/channel_arguments.h>
#include <liburing.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <optional>
#include <set>

#include "agent/certs/controller_channel.h"
#include "agent/inpod/netns.h"
#include "agent/inpod/pod_state.h"
#include "agent/policy/policy_file.h"
#include "agent/tunnel/tunnel_leg.h"
#include "identity/trust_bundle.h"

namespace ferry::agent {

namespace {

constexpr int kListenBacklog = 4096;

class BpfOriginalDestinations : public dispatch::OriginalDestinations {
 public:
  explicit BpfOriginalDestinations(BpfDatapath& bpf) : bpf_(bpf) {}
  Result<std::optional<Ipv4Endpoint>> Take(uint64_t cookie, Ipv4Endpoint client) override {
    return bpf_.TakeOriginalDestination(cookie, client);
  }

 private:
  BpfDatapath& bpf_;
};

class NetnsSocketFactory : public dispatch::SocketFactory {
 public:
  Result<UniqueFd> CreateIn(const inpod::EnrolledPod& pod) override { return inpod::CreateTcpSocketIn(pod.netns.get()); }
};

// Checked before any BPF state is created, so an agent that cannot proxy never starts capturing.
Result<void> ProbeIoUring() {
  io_uring ring{};
  int rc = io_uring_queue_init(2, &ring, 0);
  if (rc < 0) return Error{-rc, "io_uring_setup (io_uring disabled or unsupported by this kernel)"};
  io_uring_queue_exit(&ring);
  return Ok();
}

}  // namespace

NodeAgent::NodeAgent(AgentConfig config) : config_(std::move(config)) {}

NodeAgent::~NodeAgent() {
  admin_.reset();  // its handlers read the state torn down below
  if (policy_client_) policy_client_->Stop();  // no policy changes while tearing down
  server_.reset();  // nor enrollment changes
  if (proxy_) proxy_->Stop();
  identities_.reset();  // after the proxy: its legs hold the identities' TLS contexts
}

// Controller mode only: the controller is reached over TLS verified against the trust bundle,
// with this node's credential; both must be readable before anything starts.
Result<void> NodeAgent::StartIdentities() {
  auto bundle_pem = certs::ReadTrustBundleFile(config_.controller_ca);
  if (!bundle_pem.ok()) return MakeError("--controller-ca " + config_.controller_ca + ": " + bundle_pem.error().Message());
  // Checked once here so a missing or world-readable credential stops the agent at start.
  auto token = certs::ReadNodeTokenFile(config_.node_token_file);
  if (!token.ok()) return MakeError("--node-token-file " + config_.node_token_file + ": " + token.error().Message());
  trust_bundle_pem_ = *bundle_pem;
  auto bundle = identity::TrustBundle::FromPem(trust_bundle_pem_);
  if (!bundle.ok()) return bundle.error();
  // One token source for both channels: the file is re-read when it changes (Kubernetes rotates
  // projected tokens in place), once for every caller.
  node_token_source_ = certs::FileNodeTokenSource(config_.node_token_file);
  signer_ = std::make_unique<certs::GrpcCertificateSigner>(
      certs::MakeControllerChannel(config_.controller, trust_bundle_pem_, node_token_source_, grpc::ChannelArguments()));
  certs::IdentityManager::Options options;
  options.trust_domain = config_.trust_domain;
  options.requested_ttl = config_.cert_ttl;
  // Resumption tickets: a resumed tunnel setup costs about half a full handshake
  // (docs/PERFORMANCE.md); after each resumption the server sends a fresh one.
  options.server_session_tickets = 2;
  auto identities = certs::IdentityManager::Create(options, *signer_, std::move(bundle).value());
  if (!identities.ok()) return identities.error();
  identities_ = std::move(identities).value();
  tunnels_ = std::make_unique<NodeTunnels>(*identities_, policy_, config_.allow_ktls);
  spdlog::info("tunnel: kernel TLS {}", config_.allow_ktls && tunnel::KernelTlsUsable()
                                            ? "available: records are offloaded after each handshake"
                                            : "not used: records are encrypted in user space");
  return Ok();
}

void NodeAgent::UpdateWantedIdentities() {
  if (!identities_) return;
  std::set<certs::WorkloadName> wanted;
  for (const auto& [key, pod] : pods_.Snapshot()->by_key)
    wanted.insert(certs::WorkloadName{pod->spec.namespace_name, pod->spec.service_account});
  identities_->SetWanted(wanted);
}

Result<std::unique_ptr<NodeAgent>> NodeAgent::Start(const AgentConfig& config) {
  auto agent = std::unique_ptr<NodeAgent>(new NodeAgent(config));
  std::error_code ec;
  std::filesystem::create_directories(config.state_dir, ec);
  if (ec) return MakeError("create state dir " + config.state_dir + ": " + ec.message());

  if (auto r = ProbeIoUring(); !r.ok()) return MakeError("io_uring proxy unavailable: " + r.error().Message());
  auto bpf = BpfDatapath::Open(BpfDatapathOptions{config.pin_dir, config.pod_cgroup});
  if (!bpf.ok()) return MakeError("BPF datapath unavailable: " + bpf.error().Message());
  agent->bpf_ = std::move(bpf).value();

  agent->orig_dsts_ = std::make_unique<BpfOriginalDestinations>(*agent->bpf_);
  agent->sockets_ = std::make_unique<NetnsSocketFactory>();
  if (!config.controller.empty()) FERRY_TRY(agent->StartIdentities());
  agent->dispatcher_ = std::make_unique<dispatch::Dispatcher>(agent->pods_, agent->policy_, *agent->orig_dsts_,
                                                              *agent->sockets_, agent->tunnels_.get());
  agent->dispatcher_->SetMetrics(&agent->metrics_);
  if (!config.access_log.empty()) {
    auto log = metrics::AccessLog::Open(config.access_log);
    if (!log.ok()) return log.error();
    agent->access_log_ = std::move(log).value();
    agent->dispatcher_->SetAccessLog(agent->access_log_.get());
  }
  agent->metrics_.SetGaugeSource([a = agent.get()] { return a->MetricsGauges(); });
  auto proxy = proxy::Proxy::Create(config.proxy, agent->dispatcher_.get());
  if (!proxy.ok()) return MakeError("io_uring proxy unavailable: " + proxy.error().Message());
  agent->proxy_ = std::move(proxy).value();

  if (config.controller.empty()) {
    if (auto r = agent->ReloadPolicy(); !r.ok()) return r.error();
  } else if (auto r = agent->StartPolicyClient(); !r.ok()) {
    return r.error();
  }
  agent->RestorePods();
  auto server = enroll::EnrollServer::Start(config.enroll_socket,
                                            [a = agent.get()](const enroll::Request& r) { return a->HandleRequest(r); });
  if (!server.ok()) return server.error();
  agent->server_ = std::move(server).value();
  if (auto r = agent->StartAdmin(); !r.ok()) return r.error();
  spdlog::info("agent for {} ready: {} workers, {} pods restored", config.node, agent->proxy_->worker_count(),
               agent->pods_.Specs().size());
  return agent;
}

Result<void> NodeAgent::ApplyPolicy(ferry::v1::PolicySnapshot snapshot) {
  const std::string& trust_domain = snapshot.mesh().trust_domain();
  if (identities_ && !trust_domain.empty() && trust_domain != identities_->trust_domain())
    FERRY_TRY(identities_->SetTrustDomain(trust_domain));
  uint64_t version = policy_.Apply(std::move(snapshot));
  metrics_.PolicyApplied(version);
  if (proxy_) ReconcileEnrollment();
  // Connections that the new policy no longer allows are reset; new ones already see it.
  size_t reset = proxy_ ? proxy_->AbortConnectionsWhere([this](const proxy::ConnectionInfo& info) {
    return dispatcher_->NoLongerAllowed(info);
  }) : 0;
  spdlog::info("policy version {} applied; {} live connections no longer allowed were reset", version, reset);
  return Ok();
}

Result<void> NodeAgent::ReloadPolicy() {
  if (!config_.controller.empty()) return MakeError("policy comes from the controller at " + config_.controller);
  smi::MeshOptions mesh;
  mesh.permissive = config_.permissive;
  mesh.deny_egress = config_.deny_egress;
  mesh.inbound_exempt_ips = config_.inbound_exempt_ips;
  if (config_.policy_file.empty()) return ApplyPolicy(smi::Compile(smi::ResourceSet{}, mesh).snapshot);
  auto loaded = policy::LoadPolicyFile(config_.policy_file, mesh);
  if (!loaded.ok()) {
    spdlog::error("policy file {}: {}; keeping the current policy", config_.policy_file, loaded.error().Message());
    return loaded.error();
  }
  for (const auto& rejection : loaded->rejections) spdlog::warn("policy rejected: {}", rejection.ToString());
  return ApplyPolicy(std::move(loaded->snapshot));
}

std::string NodeAgent::HandleRequest(const enroll::Request& request) {
  if (const auto* add = std::get_if<enroll::AddPod>(&request)) {
    auto r = AddPod(add->pod);
    return r.ok() ? enroll::EnrolledReply(*r) : enroll::ErrorReply(r.error().Message());
  }
  if (const auto* remove = std::get_if<enroll::RemovePod>(&request)) {
    auto r = RemovePod(remove->namespace_name + "/" + remove->name);
    return r.ok() ? enroll::OkReply() : enroll::ErrorReply(r.error().Message());
  }
  if (std::holds_alternative<enroll::AgentStatus>(request)) return StatusReply();
  if (std::holds_alternative<enroll::ReloadPolicy>(request)) {
    auto r = ReloadPolicy();
    return r.ok() ? enroll::OkReply() : enroll::ErrorReply(r.error().Message());
  }
  std::vector<inpod::PodSpec> known;
  {
    std::lock_guard lock(enroll_mu_);
    for (const auto& [key, spec] : known_) known.push_back(spec);
  }
  return enroll::ListReply(pods_.Specs(), known);
}

bool NodeAgent::InMesh(const std::string& namespace_name) const {
  const auto& mesh = policy_.Current()->snapshot().mesh();
  if (!mesh.namespace_scoped()) return true;
  for (const auto& ns : mesh.monitored_namespaces())
    if (ns == namespace_name) return true;
  return false;
}

Result<bool> NodeAgent::AddPod(const inpod::PodSpec& spec) {
  std::lock_guard lock(enroll_mu_);
  auto known = known_.find(spec.Key());
  if (known != known_.end() && !(known->second == spec))
    return MakeError("pod " + spec.Key() + " is already known with a different spec; remove it first");
  known_[spec.Key()] = spec;
  bool enroll = InMesh(spec.namespace_name);
  Result<void> r = enroll ? EnrollLocked(spec) : UnenrollLocked(spec.Key());
  if (!r.ok()) {
    if (known == known_.end()) known_.erase(spec.Key());
    return r.error();
  }
  FERRY_TRY(PersistPods());
  return enroll;
}

Result<void> NodeAgent::RemovePod(const std::string& key) {
  std::lock_guard lock(enroll_mu_);
  known_.erase(key);
  auto r = UnenrollLocked(key);
  FERRY_TRY(PersistPods());
  return r;
}

void NodeAgent::ReconcileEnrollment() {
  std::lock_guard lock(enroll_mu_);
  for (const auto& [key, spec] : known_) {
    bool enrolled = pods_.ByKey(key) != nullptr;
    bool wanted = InMesh(spec.namespace_name);
    if (enrolled == wanted) continue;
    auto r = wanted ? EnrollLocked(spec) : UnenrollLocked(key);
    if (!r.ok()) spdlog::error("{} {}: {}", wanted ? "enrolling" : "releasing", key, r.error().Message());
  }
}

// Order matters for fail-closed: the listeners exist and are registered before BPF starts
// steering the pod's traffic to them.
Result<void> NodeAgent::EnrollLocked(const inpod::PodSpec& spec) {
  if (auto existing = pods_.ByKey(spec.Key())) {
    if (existing->spec == spec) return Ok();
    return MakeError("pod " + spec.Key() + " is already enrolled with a different spec; remove it first");
  }
  if (auto clash = pods_.ByIp(spec.ip)) return MakeError("IP " + FormatIpv4(spec.ip) + " already belongs to " + clash->spec.Key());
  auto netns = inpod::OpenNetns(spec.netns_path);
  if (!netns.ok()) return netns.error();
  auto cookie = inpod::NetnsCookie(netns->get());
  if (!cookie.ok()) return cookie.error();
  auto outbound = inpod::CreateListenerIn(netns->get(), {spec.ip, FERRY_PORT_OUTBOUND}, kListenBacklog);
  if (!outbound.ok()) return outbound.error();
  auto inbound = inpod::CreateListenerIn(netns->get(), {spec.ip, FERRY_PORT_INBOUND}, kListenBacklog);
  if (!inbound.ok()) return inbound.error();
  int inbound_fd = inbound->get();
  // The tunnel's end in this pod exists only where there are identities to speak TLS with.
  std::optional<UniqueFd> tunnel;
  if (tunnels_) {
    auto listener = inpod::CreateListenerIn(netns->get(), {spec.ip, FERRY_PORT_TUNNEL}, kListenBacklog);
    if (!listener.ok()) return listener.error();
    tunnel = std::move(listener).value();
  }

  auto pod = std::make_shared<inpod::EnrolledPod>();
  pod->spec = spec;
  pod->netns_cookie = *cookie;
  auto out_id = proxy_->AddListener(std::move(outbound).value());
  if (!out_id.ok()) return out_id.error();
  auto in_id = proxy_->AddListener(std::move(inbound).value());
  if (!in_id.ok()) {
    proxy_->RemoveListener(*out_id);
    return in_id.error();
  }
  pod->outbound_listener_id = *out_id;
  pod->inbound_listener_id = *in_id;
  if (tunnel) {
    auto tunnel_id = proxy_->AddListener(std::move(*tunnel));
    if (!tunnel_id.ok()) {
      proxy_->RemoveListener(*out_id);
      proxy_->RemoveListener(*in_id);
      return tunnel_id.error();
    }
    pod->tunnel_listener_id = *tunnel_id;
  }
  PodAttachment attachment{spec.PinKey(), *cookie, spec.ip, netns->get(), inbound_fd};
  pod->netns = std::move(netns).value();
  pods_.Put(pod);
  if (auto r = bpf_->EnrollPod(attachment); !r.ok()) {
    pods_.Remove(spec.Key());
    proxy_->RemoveListener(*out_id);
    proxy_->RemoveListener(*in_id);
    if (pod->tunnel_listener_id) proxy_->RemoveListener(pod->tunnel_listener_id);
    return MakeError("enroll " + spec.Key() + ": " + r.error().Message());
  }
  UpdateWantedIdentities();
  spdlog::info("enrolled {} ({}, sa {})", spec.Key(), FormatIpv4(spec.ip), spec.service_account);
  return Ok();
}

Result<void> NodeAgent::UnenrollLocked(const std::string& key) {
  auto pod = pods_.ByKey(key);
  if (!pod) return Ok();  // idempotent
  auto r = bpf_->UnenrollPod(pod->spec.PinKey(), pod->netns_cookie, pod->spec.ip);
  proxy_->RemoveListener(pod->outbound_listener_id);
  proxy_->RemoveListener(pod->inbound_listener_id);
  if (pod->tunnel_listener_id) proxy_->RemoveListener(pod->tunnel_listener_id);
  pods_.Remove(key);
  UpdateWantedIdentities();
  size_t reset = proxy_->AbortConnectionsWhere([this](const proxy::ConnectionInfo& info) {
    return dispatcher_->NoLongerAllowed(info);
  });
  spdlog::info("unenrolled {}; {} of its connections reset", key, reset);
  if (!r.ok()) return MakeError("unenroll " + key + ": " + r.error().Message());
  return Ok();
}

void NodeAgent::RestorePods() {
  auto saved = inpod::LoadPodState(config_.state_dir + "/pods.json");
  if (!saved.ok()) {
    spdlog::error("pod state unreadable, starting with no pods: {}", saved.error().Message());
    return;
  }
  for (const auto& spec : *saved) {
    if (auto r = AddPod(spec); !r.ok()) spdlog::warn("could not restore {}: {}", spec.Key(), r.error().Message());
  }
}

// Called with enroll_mu_ held: the file lists every known pod (enrolled or not).
Result<void> NodeAgent::PersistPods() {
  std::vector<inpod::PodSpec> specs;
  for (const auto& [key, spec] : known_) specs.push_back(spec);
  return inpod::SavePodState(config_.state_dir + "/pods.json", specs);
}

// Controller mode: enforce the last good snapshot right away, then follow the controller.
Result<void> NodeAgent::StartPolicyClient() {
  xds::PolicyClientOptions options;
  options.controller_address = config_.controller;
  options.node_name = config_.node;
  options.persist_path = config_.state_dir + "/policy-snapshot.pb";
  options.channel_factory =
      certs::MakeControllerChannelFactory(trust_bundle_pem_, node_token_source_);
  policy_client_ = std::make_unique<xds::PolicyClient>(options, [this](const ferry::v1::PolicySnapshot& snapshot) {
    return ApplyPolicy(snapshot);
  });
  auto persisted = policy_client_->LoadPersisted();
  if (!persisted.ok()) {
    spdlog::error("last good policy unreadable: {}; everything is denied until the controller answers",
                  persisted.error().Message());
  } else if (persisted->has_value()) {
    spdlog::info("enforcing the last good policy (version {}) until the controller answers", (*persisted)->version());
    FERRY_TRY(ApplyPolicy(std::move(**persisted)));
  }
  policy_client_->Start();
  return Ok();
}

}  // namespace ferry::agent
