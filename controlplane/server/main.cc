// ferry-controller: serves SMI policy compiled from a manifest directory to node agents, and
// signs their workloads' certificates, on one TLS port where every call carries a node token.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "controlplane/server/controller.h"
#include "controlplane/server/metrics_endpoint.h"

int main(int argc, char** argv) {
  using ferry::controlplane::Controller;
  using ferry::controlplane::ControllerOptions;

  CLI::App app{
      "ferry-controller: compiles SMI manifests into per-node policy and serves it, with workload certificates, "
      "over gRPC with TLS.\nAgents connect with TLS, verify the server as \"ferry-controller\" against the trust "
      "bundle, and send \"authorization: Bearer <node token>\" on every call."};
  ControllerOptions options;
  std::string workloads_file;
  std::string log_level = "info";
  std::string cert_ttl = "24h";
  app.add_option("--manifests", options.manifest_dir,
                 "directory of manifests (*.yaml, *.yml); re-read whenever it changes")
      ->required();
  app.add_option("--listen", options.listen_address,
                 "IPv4:port to serve PolicyDiscovery and CertificateService on (TLS), e.g. 127.0.0.1:15012 "
                 "(loopback or node address, never 0.0.0.0)")
      ->required();
  app.add_option("--mesh-name", options.compiler.mesh.mesh_name,
                 "only namespaces labelled ferry.sh/monitored-by=<mesh-name> are part of the mesh")
      ->capture_default_str();
  app.add_option("--trust-domain", options.compiler.mesh.trust_domain,
                 "SPIFFE trust domain: of the certificates signed, and sent to agents in the mesh config")
      ->capture_default_str();
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
  app.add_option("--node-tokens", options.node_tokens_file,
                 "required: JSON {\"<node>\": \"<token>\", ...} (mode 0600); a call's bearer token names its "
                 "node. Re-read on SIGHUP and on every manifest reload");
  app.add_option("--ca-cert", options.ca.ca_cert,
                 "PEM of the operator's CA or intermediate (signing certificate first, then its chain); "
                 "with --ca-key");
  app.add_option("--ca-key", options.ca.ca_key, "PEM private key of --ca-cert");
  app.add_option("--ca-extra-roots", options.ca.ca_extra_roots,
                 "PEM of further roots agents should trust (while a root rotates)");
  app.add_option("--ca-dir", options.ca.ca_dir,
                 "without --ca-cert: directory where the controller keeps the root it generates on first "
                 "start (ca.pem, ca.key 0600) and reuses afterwards");
  app.add_option("--cert-ttl", cert_ttl, "lifetime of workload certificates, e.g. 120s, 30m, 24h")
      ->capture_default_str();
  app.add_option("--trust-bundle-out", options.trust_bundle_out,
                 "write the trust bundle (PEM roots agents verify the controller and peers against) here at start");
  std::string metrics_address = ferry::controlplane::kDefaultMetricsAddress;
  app.add_option("--metrics-address", metrics_address,
                 "IPv4:port serving Prometheus GET /metrics (plain HTTP, read-only); \"\" or port 0 = off")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::from_str(log_level));
  ferry::Result<std::chrono::seconds> ttl = ferry::controlplane::ParseDuration(cert_ttl);
  if (!ttl.ok()) {
    spdlog::critical("--cert-ttl: {}", ttl.error().Message());
    return 1;
  }
  options.ca.leaf_ttl = ttl.value();
  auto metrics_endpoint = ferry::controlplane::ParseMetricsAddress(metrics_address);
  if (!metrics_endpoint.ok()) {
    spdlog::critical("{}", metrics_endpoint.error().Message());
    return 1;
  }
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
  std::unique_ptr<ferry::admin::AdminServer> metrics;
  if (metrics_endpoint.value()) {
    Controller* served = controller.value().get();
    auto started =
        ferry::controlplane::StartMetricsEndpoint(*metrics_endpoint.value(), [served] { return served->Status(); });
    if (!started.ok()) {
      spdlog::critical("--metrics-address {}: {}", metrics_address, started.error().Message());
      controller.value()->Stop();
      return 1;
    }
    metrics = std::move(started).value();
    spdlog::info("metrics on http://{}/metrics", metrics->local_endpoint().ToString());
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
  metrics.reset();  // its handler reads the controller
  controller.value()->Stop();
  return 0;
}
