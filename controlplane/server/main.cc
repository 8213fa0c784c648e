// ferry-controller: serves SMI policy compiled from a manifest directory to node agents.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "controlplane/server/controller.h"

int main(int argc, char** argv) {
  using ferry::controlplane::Controller;
  using ferry::controlplane::ControllerOptions;

  CLI::App app{"ferry-controller: compiles SMI manifests into per-node policy and serves it over gRPC"};
  ControllerOptions options;
  std::string workloads_file;
  std::string log_level = "info";
  app.add_option("--manifests", options.manifest_dir,
                 "directory of manifests (*.yaml, *.yml); re-read whenever it changes")
      ->required();
  app.add_option("--listen", options.listen_address,
                 "IPv4:port to serve PolicyDiscovery on, e.g. 127.0.0.1:15012 (no TLS yet: loopback or "
                 "node address only, never 0.0.0.0)")
      ->required();
  app.add_option("--mesh-name", options.compiler.mesh.mesh_name,
                 "only namespaces labelled ferry.sh/monitored-by=<mesh-name> are part of the mesh")
      ->capture_default_str();
  app.add_option("--trust-domain", options.compiler.mesh.trust_domain, "SPIFFE trust domain")->capture_default_str();
  app.add_option("--cluster-domain", options.cluster_domain, "DNS suffix accepted in service names")
      ->capture_default_str();
  app.add_flag("--permissive", options.compiler.mesh.permissive, "let plaintext from outside the mesh in");
  app.add_flag("--deny-egress", options.compiler.mesh.deny_egress, "refuse connections to non-mesh destinations");
  app.add_option("--inbound-exempt", options.compiler.mesh.inbound_exempt_ips,
                 "source IP allowed into meshed pods without mesh identity (repeatable)");
  app.add_flag("--exempt-node-ip", options.compiler.exempt_node_ip,
               "exempt each node's own IP (from the workload inventory) on that node, for kubelet probes");
  app.add_option("--workloads-file", workloads_file,
                 "JSON inventory of scheduled workloads (default: <manifests>/.ferry/workloads.json)");
  app.add_option("--status-file", options.status_file,
                 "JSON file rewritten on every change: rejections, per-node ACK/NACK state");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::from_str(log_level));
  if (!workloads_file.empty()) {
    options.watched_inventory_file = workloads_file;
    options.workload_source = std::make_unique<ferry::controlplane::FileWorkloadSource>(workloads_file);
  }

  // Block the signals before any thread starts so only sigwait() below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  ferry::Result<std::unique_ptr<Controller>> controller = Controller::Start(std::move(options));
  if (!controller.ok()) {
    spdlog::critical("{}", controller.error().Message());
    return 1;
  }
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {  // the watcher should have noticed; this forces a re-read anyway
      controller.value()->Reload();
      continue;
    }
    spdlog::info("signal {}: shutting down", sig);
    break;
  }
  controller.value()->Stop();
  return 0;
}
