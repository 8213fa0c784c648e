// ferry-agent: the per-node agent. Refuses to start (exit 1, with the reason) when a kernel
// feature it needs is missing: a mesh that silently fails open is worse than none.
#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <thread>

#include "agent/node_agent.h"

namespace {

constexpr rlim_t kReservedFds = 4096;  // listeners, rings, maps, the enrollment API
constexpr size_t kDefaultMaxConnections = 16384;

// Raises RLIMIT_NOFILE as far as allowed (root with CAP_SYS_RESOURCE may raise the hard limit
// up to fs.nr_open) and returns how many proxied connections it can carry: each holds two fds.
// An explicit --max-connections that does not fit is an error; the default shrinks to fit.
ferry::Result<size_t> RaiseFileLimit(size_t requested) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return ferry::ErrnoError("getrlimit(RLIMIT_NOFILE)");
  size_t wanted = requested ? requested : kDefaultMaxConnections;
  rlim_t needed = 2 * wanted + kReservedFds;
  rlimit raised{std::max(lim.rlim_max, needed), std::max(lim.rlim_max, needed)};
  if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    raised = {lim.rlim_max, lim.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) != 0) return ferry::ErrnoError("setrlimit(RLIMIT_NOFILE)");
  }
  if (raised.rlim_cur <= kReservedFds + 2) return ferry::MakeError("RLIMIT_NOFILE " + std::to_string(raised.rlim_cur) + " is too low to proxy anything");
  size_t fits = (raised.rlim_cur - kReservedFds) / 2;
  if (fits >= wanted) return wanted;
  if (requested) {
    return ferry::MakeError("RLIMIT_NOFILE is " + std::to_string(raised.rlim_cur) + ", below the " + std::to_string(needed) +
                            " that --max-connections " + std::to_string(requested) +
                            " needs; raise the hard limit (or fs.nr_open) or lower --max-connections");
  }
  spdlog::warn("RLIMIT_NOFILE {} (hard limit) allows only {} proxied connections, not the default {}", raised.rlim_cur,
               fits, kDefaultMaxConnections);
  return fits;
}

}  // namespace

int main(int argc, char** argv) {
  ferry::agent::AgentConfig config;
  CLI::App app{"ferry-agent: Ferry's node agent (BPF capture, io_uring proxy, SMI enforcement)"};
  app.add_option("--node", config.node, "this node's name")->required();
  app.add_option("--pod-cgroup", config.pod_cgroup, "cgroup v2 directory holding this node's pods")->required();
  app.add_option("--pin-dir", config.pin_dir, "bpffs directory for pinned maps and links (default /sys/fs/bpf/ferry/<node>)");
  app.add_option("--state-dir", config.state_dir, "where enrolled pods are persisted")->required();
  app.add_option("--enroll-socket", config.enroll_socket, "Unix socket of the enrollment API (root only)")->required();
  auto* policy_file = app.add_option("--policy-file", config.policy_file, "YAML of SMI resources (standalone mode; SIGHUP reloads)");
  app.add_option("--controller", config.controller, "ferry-controller gRPC address (controller mode)")->excludes(policy_file);
  app.add_option("--controller-ca", config.controller_ca, "trust bundle (PEM) the controller's TLS certificate is verified against");
  app.add_option("--node-token-file", config.node_token_file, "this node's credential for the controller (mode 0600)");
  app.add_option("--trust-domain", config.trust_domain, "SPIFFE trust domain until the controller's snapshot names one")
      ->capture_default_str();
  unsigned cert_ttl_s = 0;
  app.add_option("--cert-ttl-s", cert_ttl_s, "requested workload certificate lifetime (0 = the controller's default)");
  bool no_ktls = false;
  app.add_flag("--no-ktls", no_ktls, "keep tunnel records in user space even where the kernel has kTLS");
  app.add_flag("--permissive", config.permissive, "let plaintext from outside the mesh in");
  app.add_flag("--deny-egress", config.deny_egress, "refuse connections to non-mesh destinations");
  app.add_option("--inbound-exempt", config.inbound_exempt_ips, "source IPs allowed in as plaintext (e.g. the node for probes)");
  unsigned workers = 0;
  size_t max_connections = 0;
  unsigned connect_timeout_ms = 5000, idle_timeout_s = 3600, half_close_timeout_s = 30;
  std::string log_level = "info";
  app.add_option("--workers", workers, "io_uring workers (0 = one per core)");
  app.add_option("--max-connections", max_connections, "proxied connections beyond which new ones are refused (default: 16384, or what RLIMIT_NOFILE allows)");
  app.add_option("--connect-timeout-ms", connect_timeout_ms, "upstream connect timeout");
  app.add_option("--idle-timeout-s", idle_timeout_s, "close connections idle this long");
  app.add_option("--half-close-timeout-s", half_close_timeout_s, "close a half-closed connection after this long");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error");
  app.add_option("--admin-port", config.admin.debug_port, "debug endpoint on 127.0.0.1 of the node (0 = off)")
      ->capture_default_str();
  app.add_option("--metrics-port", config.admin.metrics_port, "Prometheus /metrics (0 = off)")->capture_default_str();
  app.add_option("--readiness-port", config.admin.readiness_port, "/healthz/ready (0 = off)")->capture_default_str();
  app.add_option("--access-log", config.access_log,
                 "write one JSON line per connection and HTTP request to this file (\"-\": standard output)");
  std::string stats_address = "127.0.0.1";
  app.add_option("--stats-address", stats_address, "IPv4 address the metrics and readiness ports listen on")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!config.controller.empty() && (config.controller_ca.empty() || config.node_token_file.empty())) {
    std::fprintf(stderr, "--controller needs --controller-ca and --node-token-file (the controller is only reached over TLS)\n");
    return 1;
  }
  auto stats_ip = ferry::ParseIpv4(stats_address);
  if (!stats_ip) {
    std::fprintf(stderr, "--stats-address %s: not an IPv4 address\n", stats_address.c_str());
    return 1;
  }
  config.admin.stats_address = *stats_ip;
  config.cert_ttl = std::chrono::seconds(cert_ttl_s);
  config.allow_ktls = !no_ktls;

  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [" + config.node + "] %v");
  if (config.pin_dir.empty()) config.pin_dir = "/sys/fs/bpf/ferry/" + config.node;
  config.proxy.workers = workers;
  config.proxy.connect_timeout = std::chrono::milliseconds(connect_timeout_ms);
  config.proxy.idle_timeout = std::chrono::seconds(idle_timeout_s);
  config.proxy.half_close_timeout = std::chrono::seconds(half_close_timeout_s);

  auto connection_limit = RaiseFileLimit(max_connections);
  if (!connection_limit.ok()) {
    spdlog::error("cannot start: {}", connection_limit.error().Message());
    return 1;
  }
  config.proxy.max_connections = *connection_limit;
  spdlog::info("up to {} proxied connections", *connection_limit);
  // Signals are taken synchronously on the main thread; block them before any thread starts so
  // every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto agent = ferry::agent::NodeAgent::Start(config);
  if (!agent.ok()) {
    spdlog::error("cannot start: {}", agent.error().Message());
    return 1;
  }
  // Between signals, give the heap pages freed since the last time back to the kernel: glibc
  // keeps them in its arenas, so an agent that once carried thousands of connections would stay
  // that large (~440 MB after 7652 idle connections closed, docs/PERFORMANCE.md).
  constexpr timespec kTrimInterval{30, 0};
  for (;;) {
    int sig = sigtimedwait(&signals, nullptr, &kTrimInterval);
    if (sig < 0) {
      if (errno == EAGAIN) malloc_trim(0);
      continue;
    }
    if (sig == SIGHUP) {
      (void)(*agent)->ReloadPolicy();
      continue;
    }
    spdlog::info("signal {}: shutting down", sig);
    break;
  }
  agent->reset();
  return 0;
}
