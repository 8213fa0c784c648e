// `ferryctl local up` and `ferryctl local down`.
#include <filesystem>
#include <ostream>

#include "cli/binaries.h"
#include "cli/local_commands.h"
#include "cli/state_lock.h"
#include "local/ip_command.h"

namespace ferry::cli {

namespace fs = std::filesystem;

std::string AbsoluteStateDir(const std::string& state_dir) {
  std::error_code ec;
  auto abs = fs::absolute(state_dir, ec);
  return ec ? state_dir : abs.lexically_normal().string();
}

Result<LocalContext> OpenContext(const std::string& state_dir) {
  auto cluster = local::LocalCluster::Open(state_dir);
  if (!cluster.ok()) return cluster.error();
  LocalContext ctx{state_dir, std::move(cluster).value(), local::ManifestStore(ManifestDir(state_dir)), "ferry"};
  if (ctx.cluster->controller()) ctx.mesh_name = ctx.cluster->controller()->mesh_name;
  return ctx;
}

Result<LocalContext> OpenRecorded(const std::string& state_dir) {
  std::string state = AbsoluteStateDir(state_dir);
  if (!fs::exists(state + "/cluster.json"))
    return MakeError("no local cluster recorded in " + state + " (run `ferryctl local up` first)");
  auto lock = StateLock::Acquire(state);  // held while reading only: a verb in progress finishes first
  if (!lock.ok()) return lock.error();
  return OpenContext(state);
}

namespace {

constexpr const char* kClusterName = "ferry";

// Everything `up` and the other verbs write under the state directory.
void RemoveStateFiles(const std::string& state_dir) {
  std::error_code ec;
  for (const char* entry : {"manifests", "pods", "logs", "pki", "controller-status.json", "cluster.json", "cluster.json.tmp"})
    fs::remove_all(fs::path(state_dir) / entry, ec);
  for (const auto& e : fs::directory_iterator(state_dir, ec)) {
    if (e.is_directory() && e.path().filename().string().rfind("node-", 0) == 0) fs::remove_all(e.path(), ec);
  }
  fs::remove(fs::path(state_dir) / "lock", ec);
  fs::remove(state_dir, ec);  // only when empty: never anything we did not make
}

// Something of `cluster` still runs or exists.
std::string LiveParts(local::LocalCluster& cluster) {
  std::string live;
  if (cluster.controller() && local::IsAlive(cluster.controller()->process))
    live += " controller pid " + std::to_string(cluster.controller()->process.pid) + ";";
  for (const auto& n : cluster.nodes()) {
    if (cluster.AgentRunning(n.index)) live += " " + n.name + " agent pid " + std::to_string(n.agent_pid) + ";";
    if (local::NetnsExists(n.netns_name)) live += " netns " + n.netns_name + ";";
  }
  return live;
}

// Refuses while another cluster runs; quietly clears the remains of one in `state_dir` that
// stopped (machine rebooted, processes killed) so `up` can start afresh.
Result<void> CheckNoClusterRunning(const std::string& state_dir, std::ostream& out) {
  std::vector<std::string> candidates = {state_dir};
  std::string recorded = RecordedStateDir();
  if (!recorded.empty() && recorded != state_dir) candidates.push_back(recorded);
  for (const auto& dir : candidates) {
    if (!fs::exists(dir + "/cluster.json")) continue;
    auto cluster = local::LocalCluster::Open(dir);
    if (!cluster.ok()) return MakeError("cannot read the cluster recorded in " + dir + ": " + cluster.error().Message());
    std::string live = LiveParts(**cluster);
    if (!live.empty()) {
      return MakeError("a local cluster is already running (state " + dir + ":" + live +
                           ")\n  stop it first: ferryctl local down --state " + dir);
    }
    if (dir == state_dir) {
      out << "clearing the remains of a stopped cluster in " << dir << "\n";
      (void)(*cluster)->Down();
      std::error_code ec;
      fs::remove_all(fs::path(dir) / "pki", ec);  // a new cluster gets a new CA and new tokens
    }
  }
  if (local::HostLinkExists(local::kUnderlayBridge))
    return MakeError(std::string("link ") + local::kUnderlayBridge +
                         " exists: another local cluster (or its remains) is on this machine");
  return Ok();
}

Result<local::ClusterOptions> ClusterOptionsFor(const UpOptions& up, const Binaries& bin, const std::string& state) {
  local::ClusterOptions o;
  o.name = kClusterName;
  o.state_dir = state;
  o.nodes = up.nodes;
  o.agent_binary = bin.agent;
  o.underlay = true;
  o.controller_address = kControllerListen;
  o.trust_domain = up.trust_domain;
  o.cert_ttl = up.cert_ttl;
  o.access_log = up.access_log;
  bool controller_mode = false;
  if (up.agent_mode == "auto") {
    controller_mode = AgentSupportsController(bin.agent);
  } else if (up.agent_mode == "controller") {
    if (!AgentSupportsController(bin.agent)) return MakeError(bin.agent + " has no --controller option");
    controller_mode = true;
  } else if (up.agent_mode != "policy-file") {
    return MakeError("--agent-mode must be auto, controller or policy-file");
  }
  o.policy_source = controller_mode ? local::PolicySource::kController : local::PolicySource::kPolicyFile;
  // ferry-cni enrolls only through agents that know the mesh's namespaces (controller mode).
  if (controller_mode && !bin.cni.empty()) {
    o.cni_plugin_dirs.push_back(fs::path(bin.cni).parent_path().string());
    o.chain_ferry_cni = true;
  }
  return o;
}

Result<std::unique_ptr<local::LocalCluster>> StartCluster(const UpOptions& up, const std::string& state,
                                                          std::ostream& out) {
  auto bin = FindBinaries(up.agent_bin, up.controller_bin, up.cni_bin);
  if (!bin.ok()) return bin.error();
  auto options = ClusterOptionsFor(up, *bin, state);
  if (!options.ok()) return options.error();
  auto created = local::LocalCluster::Create(*options);
  if (!created.ok()) return created.error();
  LocalContext ctx{state, std::move(created).value(), local::ManifestStore(ManifestDir(state)), up.mesh_name};
  FERRY_TRY(ctx.cluster->Save());  // from here `down` can clean up even if we die
  FERRY_TRY(WriteInventory(ctx));
  local::ControllerProcess controller{bin->controller, ManifestDir(state), kControllerListen, up.mesh_name,
                                      state + "/controller-status.json", ctx.cluster->LogPath("controller"), {},
                                      // The host's side of the underlay, like the gRPC port.
                                      std::string(local::kUnderlayHostIp) + ":" +
                                          std::to_string(local::kControllerMetricsPort)};
  FERRY_TRY(ctx.cluster->StartController(controller));
  for (const auto& n : ctx.cluster->nodes()) FERRY_TRY(ctx.cluster->StartAgent(n.index));
  FERRY_TRY(ctx.cluster->Save());
  if (options->policy_source == local::PolicySource::kController) {
    FERRY_TRY(ctx.cluster->WaitForAcks(std::chrono::seconds(up.ack_timeout_s)));
  } else {
    out << "note: " << bin->agent << " has no --controller option: agents run standalone "
        << "(policy files) and ferryctl enrolls pods itself\n";
  }
  if (options->chain_ferry_cni) out << "pods are enrolled by ferry-cni (" << bin->cni << ")\n";
  return std::move(ctx.cluster);
}

}  // namespace

int LocalUp(const UpOptions& up, std::ostream& out, std::ostream& err) {
  std::string state = AbsoluteStateDir(up.state_dir);
  if (up.nodes < 1 || up.nodes > 200) {
    err << "error: --nodes must be between 1 and 200\n";
    return 2;
  }
  auto lock = StateLock::Acquire(state);
  if (!lock.ok()) {
    err << "error: " << lock.error().Message() << "\n";
    return 1;
  }
  if (auto r = CheckNoClusterRunning(state, out); !r.ok()) {
    err << "error: " << r.error().Message() << "\n";
    if (!fs::exists(state + "/cluster.json")) RemoveStateFiles(state);  // just the lock we made
    return 1;
  }
  auto cluster = StartCluster(up, state, out);
  if (!cluster.ok()) {
    err << "error: " << cluster.error().Message() << "\n";
    // The cluster object (if any) was torn down on the way out; now its files.
    RemoveStateFiles(state);
    return 1;
  }
  (*cluster)->KeepRunning();
  if (auto r = RecordStateDir(state); !r.ok()) err << "warning: " << r.error().Message() << "\n";
  out << "local cluster up: " << up.nodes << " node(s), mesh " << up.mesh_name << ", controller on "
      << kControllerListen << ", state " << state << "\n";
  for (const auto& n : (*cluster)->nodes())
    out << "  " << n.name << "  netns " << n.netns_name << "  pods " << n.pod_subnet << "  underlay " << n.underlay_ip
        << "  agent pid " << n.agent_pid << "\n";
  out << "Prometheus targets (GET /metrics):";
  for (const auto& t : local::ScrapeTargets(**cluster)) out << "  " << t.job << " " << t.address;
  out << "\n";
  if (up.access_log)
    for (const auto& n : (*cluster)->nodes()) out << "Access log of " << n.name << ": " << local::AccessLogPath(n) << "\n";
  return 0;
}

int LocalDown(const std::string& state_dir, std::ostream& out, std::ostream& err) {
  std::string state = AbsoluteStateDir(state_dir);
  if (!fs::exists(state + "/cluster.json")) {
    ClearRecordedStateDir(state);
    if (fs::exists(state)) RemoveStateFiles(state);
    out << "no local cluster recorded in " << state << "\n";
    return 0;
  }
  auto lock = StateLock::Acquire(state);
  if (!lock.ok()) {
    err << "error: " << lock.error().Message() << "\n";
    return 1;
  }
  auto cluster = local::LocalCluster::Open(state);
  if (!cluster.ok()) {
    err << "error: " << cluster.error().Message() << "\n";
    return 1;
  }
  auto down = (*cluster)->Down();
  RemoveStateFiles(state);
  ClearRecordedStateDir(state);
  if (!down.ok()) {
    err << "error: some parts could not be removed: " << down.error().Message() << "\n";
    return 1;
  }
  out << "local cluster down: removed its nodes, pods, processes and files (" << state << ")\n";
  return 0;
}

}  // namespace ferry::cli
