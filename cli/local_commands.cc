// `ferryctl local apply|delete|exec` and `ferryctl namespace add|remove`.
#include "cli/local_commands.h"

#include <algorithm>
#include <csignal>
#include <ostream>

#include "cli/state_lock.h"
#include "cli/stop_signals.h"
#include "local/port_forward.h"
#include "local/workloads.h"

namespace ferry::cli {

namespace {

// Opens the cluster under its lock; prints why not on failure.
struct LockedContext {
  std::optional<StateLock> lock;
  std::optional<LocalContext> ctx;
};

LockedContext OpenLocked(const std::string& state_dir, std::ostream& err) {
  LockedContext locked;
  std::string state = AbsoluteStateDir(state_dir);
  if (!std::filesystem::exists(state + "/cluster.json")) {
    err << "error: no local cluster recorded in " << state << " (run `ferryctl local up` first)\n";
    return locked;
  }
  auto lock = StateLock::Acquire(state);
  if (!lock.ok()) {
    err << "error: " << lock.error().Message() << "\n";
    return locked;
  }
  locked.lock.emplace(std::move(lock).value());
  auto ctx = OpenContext(state);
  if (!ctx.ok()) {
    err << "error: " << ctx.error().Message() << "\n";
    return locked;
  }
  locked.ctx.emplace(std::move(ctx).value());
  return locked;
}

int ReportReconcile(LocalContext& ctx, std::ostream& out, std::ostream& err, int earlier_failures) {
  auto errors = Reconcile(ctx, out);
  for (const auto& e : errors) err << "error: " << e << "\n";
  return errors.empty() && earlier_failures == 0 ? 0 : 1;
}

}  // namespace

int LocalApply(const std::string& state_dir, const std::string& path, const std::string& default_ns,
               std::ostream& out, std::ostream& err) {
  auto parsed = local::ReadManifestPath(path, default_ns);
  if (!parsed.ok()) {
    err << "error: " << parsed.error().Message() << "\n";
    return 1;
  }
  for (const auto& e : parsed->errors) err << "error: " << e << "\n";
  if (parsed->manifests.empty()) {
    err << "error: no resources found in " << path << "\n";
    return 1;
  }
  auto locked = OpenLocked(state_dir, err);
  if (!locked.ctx) return 1;
  int refused = StoreManifests(*locked.ctx, parsed->manifests, out);
  return ReportReconcile(*locked.ctx, out, err, refused + static_cast<int>(parsed->errors.size()));
}

int LocalDelete(const std::string& state_dir, const std::string& path, const std::string& default_ns,
                std::ostream& out, std::ostream& err) {
  auto parsed = local::ReadManifestPath(path, default_ns);
  if (!parsed.ok()) {
    err << "error: " << parsed.error().Message() << "\n";
    return 1;
  }
  for (const auto& e : parsed->errors) err << "error: " << e << "\n";
  auto locked = OpenLocked(state_dir, err);
  if (!locked.ctx) return 1;
  int missing = DeleteManifests(*locked.ctx, parsed->manifests, out);
  return ReportReconcile(*locked.ctx, out, err, missing + static_cast<int>(parsed->errors.size()));
}

namespace {

// deploy/NAME (or deployment/NAME) → the first of its pods; anything else is a pod name.
}  // namespace

Result<local::Pod*> ResolvePod(LocalContext& ctx, const std::string& ns, const std::string& target) {
  auto slash = target.find('/');
  std::string kind = slash == std::string::npos ? "pod" : target.substr(0, slash);
  std::string name = slash == std::string::npos ? target : target.substr(slash + 1);
  if (kind == "deploy" || kind == "deployment" || kind == "deployments") {
    auto resources = ctx.store.LoadAll();
    if (!resources.ok()) return resources.error();
    std::optional<std::string> running;
    for (const auto& p : local::ExpandWorkloads(*resources).pods) {
      if (p.namespace_name == ns && p.owner == "Deployment/" + name && ctx.cluster->FindPod(ns, p.name)) {
        running = p.name;
        break;
      }
    }
    if (!running) return MakeError("deployment " + name + " in namespace " + ns + " has no running pod");
    name = *running;
  } else if (kind != "pod" && kind != "pods" && kind != "po") {
    return MakeError(kind + ": only a pod name or deploy/NAME can be used here");
  }
  local::Pod* pod = ctx.cluster->FindPod(ns, name);
  if (!pod) return MakeError("pod " + name + " not found in namespace " + ns);
  return pod;
}

int LocalExec(const std::string& state_dir, const std::string& ns, const std::string& target,
              const std::vector<std::string>& command, std::ostream& err) {
  if (command.empty()) {
    err << "error: no command given (ferryctl local exec -n NS POD -- CMD...)\n";
    return 2;
  }
  std::optional<LocalContext> ctx;
  {
    // The lock is held only while reading the state: the command may run for a long time.
    auto locked = OpenLocked(state_dir, err);
    if (!locked.ctx) return 1;
    ctx.emplace(std::move(*locked.ctx));
  }
  auto resolved = ResolvePod(*ctx, ns, target);
  if (!resolved.ok()) {
    err << "error: " << resolved.error().Message() << "\n";
    return 1;
  }
  local::Pod* pod = *resolved;
  auto status = ctx->cluster->ExecInPod(*pod, command);
  if (!status.ok()) {
    err << "error: " << status.error().Message() << "\n";
    return 1;
  }
  return *status;
}

namespace {

// Running as `get pods` reports it, and its network namespace still there to dial into.
bool PodRunning(const local::Pod& pod) {
  if (!std::filesystem::exists(pod.netns_path)) return false;
  return std::all_of(pod.processes.begin(), pod.processes.end(), [](const auto& p) { return local::IsAlive(p); });
}

}  // namespace

int LocalPortForward(const PortForwardOptions& options, std::ostream& out, std::ostream& err) {
  auto mapping = local::ParsePortMapping(options.ports);
  auto address = local::ParseLoopbackAddress(options.address);
  for (const Error* e : {mapping.ok() ? nullptr : &mapping.error(), address.ok() ? nullptr : &address.error()}) {
    if (e) err << "error: " << e->Message() << "\n";
  }
  if (!mapping.ok() || !address.ok()) return 2;
  std::optional<LocalContext> ctx;
  {
    // As for exec: the lock is held only while reading the state, not while forwarding.
    auto locked = OpenLocked(options.state_dir, err);
    if (!locked.ctx) return 1;
    ctx.emplace(std::move(*locked.ctx));
  }
  const std::string& ns = options.namespace_name;
  auto resolved = ResolvePod(*ctx, ns, options.target);
  if (!resolved.ok()) {
    err << "error: " << resolved.error().Message() << "\n";
    return 1;
  }
  local::Pod* pod = *resolved;
  if (!PodRunning(*pod)) {
    err << "error: pod " << pod->Key() << " is not running (see `ferryctl local get pods`)\n";
    return 1;
  }
  std::string remote = std::to_string(mapping->remote_port);
  auto target = local::NetnsLoopbackTarget(pod->netns_path, mapping->remote_port, "pod " + pod->Key() + " port " + remote);
  auto signals = BlockStopSignals();
  for (const Error* e : {target.ok() ? nullptr : &target.error(), signals.ok() ? nullptr : &signals.error()}) {
    if (e) err << "error: " << e->Message() << "\n";
  }
  if (!target.ok() || !signals.ok()) return 1;
  local::ForwarderOptions forwarder_options;
  forwarder_options.listen = Ipv4Endpoint{*address, mapping->local_port};
  forwarder_options.target = std::move(target).value();
  forwarder_options.on_connection = [&out](const std::string& m) { out << m << std::endl; };
  forwarder_options.on_error = [&err](const std::string& m) { err << "error: " << m << std::endl; };
  auto forwarder = local::PortForwarder::Listen(std::move(forwarder_options));
  if (!forwarder.ok()) {
    err << "error: " << forwarder.error().Message() << "\n";
    return 1;
  }
  // Flushed at once: scripts and tests wait for this line to learn the port.
  out << "Forwarding from " << (*forwarder)->local_endpoint().ToString() << " -> " << remote << std::endl;
  auto run = (*forwarder)->Run(signals->get());
  if (!run.ok()) {
    err << "error: " << run.error().Message() << "\n";
    return 1;
  }
  return 0;
}

int NamespaceMembership(const std::string& state_dir, const std::string& ns, const std::string& mesh_name, bool add,
                        std::ostream& out, std::ostream& err) {
  auto locked = OpenLocked(state_dir, err);
  if (!locked.ctx) return 1;
  LocalContext& ctx = *locked.ctx;
  std::string mesh = mesh_name.empty() ? ctx.mesh_name : mesh_name;
  auto stored = ctx.store.Get("Namespace", "", ns);
  local::Manifest m;
  if (stored) {
    m = *stored;
  } else {
    if (!add) {
      out << "namespace " << ns << " is not in mesh " << mesh << "\n";
      return 0;
    }
    m.api_version = "v1";
    m.kind = "Namespace";
    m.name = ns;
    m.doc["apiVersion"] = "v1";
    m.doc["kind"] = "Namespace";
    m.doc["metadata"]["name"] = ns;
  }
  YAML::Node labels = local::Field(m.doc, "metadata", "labels");
  if (add) {
    m.doc["metadata"]["labels"][local::kMonitoredByLabel] = mesh;
  } else if (labels && labels.IsMap()) {
    m.doc["metadata"]["labels"].remove(local::kMonitoredByLabel);
  }
  if (auto r = ctx.store.Put(m); !r.ok()) {
    err << "error: " << r.error().Message() << "\n";
    return 1;
  }
  out << "namespace " << ns << (add ? " added to" : " removed from") << " mesh " << mesh << "\n";
  return ReportReconcile(ctx, out, err, 0);
}

int LocalComponent(const std::string& state_dir, bool start, const std::string& component, const std::string& node,
                   bool kill, std::ostream& out, std::ostream& err) {
  auto locked = OpenLocked(state_dir, err);
  if (!locked.ctx) return 1;
  local::LocalCluster& cluster = *locked.ctx->cluster;
  Result<void> r = Ok();
  if (component == "controller") {
    if (!cluster.controller()) {
      err << "error: this cluster runs no controller (standalone agents)\n";
      return 1;
    }
    if (start) {
      r = cluster.StartController(*cluster.controller());
    } else {
      local::StopDetached(cluster.controller()->process, kill ? std::chrono::seconds(0) : std::chrono::seconds(5));
    }
  } else {
    int index = 0;
    for (const auto& n : cluster.nodes())
      if (n.name == node) index = n.index;
    if (index == 0) {
      err << "error: no node \"" << node << "\" (see `ferryctl local get nodes`)\n";
      return 1;
    }
    r = start ? cluster.StartAgent(index) : cluster.StopAgent(index, kill ? SIGKILL : SIGTERM);
  }
  if (!r.ok()) {
    err << "error: " << r.error().Message() << "\n";
    return 1;
  }
  if (auto saved = cluster.Save(); !saved.ok()) err << "warning: " << saved.error().Message() << "\n";
  out << component << (node.empty() ? "" : " " + node) << (start ? " started" : " stopped") << "\n";
  return 0;
}

}  // namespace ferry::cli
