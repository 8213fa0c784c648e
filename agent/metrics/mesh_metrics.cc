#include "agent/metrics/mesh_metrics.h"

#include <array>

namespace ferry::metrics {

namespace {

const std::vector<std::string> kTrafficLabelNames = {
    "reporter",          "source_workload",      "source_namespace",     "source_principal",
    "destination_workload", "destination_namespace", "destination_principal"};

std::vector<std::string> TrafficLabelNamesWith(std::string extra) {
  std::vector<std::string> names = kTrafficLabelNames;
  if (!extra.empty()) names.push_back(std::move(extra));
  return names;
}

std::string_view OrUnknown(const std::string& value) { return value.empty() ? kUnknown : std::string_view(value); }

const char* ReporterName(Reporter reporter) { return reporter == Reporter::kSource ? "source" : "destination"; }

// The identity labels in kTrafficLabelNames order, plus one more value.
std::array<std::string_view, 8> TrafficValues(const TrafficLabels& l, std::string_view extra) {
  return {ReporterName(l.reporter),      OrUnknown(l.source.workload),      OrUnknown(l.source.ns),
          OrUnknown(l.source.principal), OrUnknown(l.destination.workload), OrUnknown(l.destination.ns),
          OrUnknown(l.destination.principal), extra};
}

constexpr const char* kSecurityHelp =
    " connection_security is mtls_ktls or mtls_userspace (the tunnel's record layer), none (plaintext, "
    "e.g. same node), or mtls when the TLS mode is not known yet (at open) or the handshake never finished.";

}  // namespace

const char* ConnectionSecurityName(ConnectionSecurity security) {
  switch (security) {
    case ConnectionSecurity::kNone: return "none";
    case ConnectionSecurity::kMtls: return "mtls";
    case ConnectionSecurity::kMtlsKtls: return "mtls_ktls";
    case ConnectionSecurity::kMtlsUserspace: return "mtls_userspace";
  }
  return "none";
}

ConnectionSecurity SecurityFromTlsMode(std::string_view tls_mode) {
  if (tls_mode == "ktls") return ConnectionSecurity::kMtlsKtls;
  if (tls_mode == "userspace") return ConnectionSecurity::kMtlsUserspace;
  if (tls_mode == "none" || tls_mode.empty()) return ConnectionSecurity::kNone;
  return ConnectionSecurity::kMtls;  // "setup": a leg that never reached its data phase
}

MeshMetrics::MeshMetrics(Clock clock, ProcessSource process)
    : clock_(clock ? std::move(clock) : Clock([] { return std::chrono::system_clock::now(); })),
      process_(process ? std::move(process) : ProcessSource([] { return ReadProcessStats(); })),
      opened_("ferry_tcp_connections_opened_total",
              std::string("TCP connections the agent relayed, counted when the decision to relay was made.") +
                  kSecurityHelp,
              TrafficLabelNamesWith("connection_security")),
      closed_("ferry_tcp_connections_closed_total",
              std::string("TCP connections the agent relayed that have closed.") + kSecurityHelp,
              TrafficLabelNamesWith("connection_security")),
      received_("ferry_tcp_received_bytes_total",
                "Bytes received from the client of a relayed TCP connection (request direction), counted at close.",
                TrafficLabelNamesWith("connection_security")),
      sent_("ferry_tcp_sent_bytes_total",
            "Bytes sent back to the client of a relayed TCP connection (response direction), counted at close.",
            TrafficLabelNamesWith("connection_security")),
      requests_("ferry_requests_total",
                "HTTP requests the agent handled, by the status the client got (0: no response, the connection broke).",
                TrafficLabelNamesWith("response_code")),
      durations_("ferry_request_duration_seconds",
                 "Time from a request's head arriving to its response completing.", TrafficLabelNamesWith(""),
                 DefaultLatencyBuckets()),
      denied_("ferry_denied_total",
              "Connections and HTTP requests the agent refused, by reason (policy, unauthenticated, http_route, ...).",
              {"reason"}) {}

void MeshMetrics::ConnectionOpened(const TrafficLabels& labels, ConnectionSecurity security) {
  opened_.Add(TrafficValues(labels, ConnectionSecurityName(security)));
}

void MeshMetrics::ConnectionClosed(const TrafficLabels& labels, ConnectionSecurity security, uint64_t received,
                                   uint64_t sent) {
  auto values = TrafficValues(labels, ConnectionSecurityName(security));
  closed_.Add(values);
  // Zero-byte adds still create the series, so every closed connection has its byte series.
  received_.Add(values, received);
  sent_.Add(values, sent);
}

void MeshMetrics::RequestDone(const TrafficLabels& labels, int status, std::chrono::microseconds duration) {
  // Status codes are three digits (or 0): bounded, and short enough for no heap allocation.
  std::string code = std::to_string(status < 0 || status > 999 ? 0 : status);
  auto values = TrafficValues(labels, code);
  requests_.Add(values);
  double seconds = std::chrono::duration<double>(duration).count();
  durations_.Observe(std::span<const std::string_view>(values.data(), kTrafficLabelNames.size()), seconds);
}

void MeshMetrics::Denied(std::string_view reason) {
  std::array<std::string_view, 1> values{reason};
  denied_.Add(values);
}

void MeshMetrics::PolicyApplied(uint64_t version) {
  auto now = clock_();
  std::lock_guard lock(gauges_mu_);
  policy_applied_ = true;
  policy_version_ = version;
  policy_applied_at_ = now;
}

void MeshMetrics::SetGaugeSource(GaugeSource source) {
  std::lock_guard lock(gauges_mu_);
  gauge_source_ = std::move(source);
}

std::string MeshMetrics::RenderPrometheusText() const {
  ExpositionWriter out;
  opened_.Render(out);
  closed_.Render(out);
  received_.Render(out);
  sent_.Render(out);
  requests_.Render(out);
  durations_.Render(out);
  denied_.Render(out);
  RenderGauges(out);
  RenderProcess(out);
  return out.Take();
}

void MeshMetrics::RenderGauges(ExpositionWriter& out) const {
  GaugeSource source;
  bool applied;
  uint64_t version;
  std::chrono::system_clock::time_point applied_at;
  {
    std::lock_guard lock(gauges_mu_);
    source = gauge_source_;
    applied = policy_applied_;
    version = policy_version_;
    applied_at = policy_applied_at_;
  }
  out.BeginFamily("ferry_policy_snapshot_version", MetricType::kGauge,
                  "Version of the policy snapshot in force (0: none applied yet, everything is denied).");
  out.Sample("ferry_policy_snapshot_version", {}, version);
  if (applied) {
    double age = std::chrono::duration<double>(clock_() - applied_at).count();
    out.BeginFamily("ferry_policy_snapshot_age_seconds", MetricType::kGauge,
                    "Seconds since the policy snapshot in force was applied.");
    out.Sample("ferry_policy_snapshot_age_seconds", {}, age < 0 ? 0.0 : age);
  }
  if (!source) return;
  // Called outside the lock: the source may take the agent's own locks.
  AgentGauges gauges = source();
  out.BeginFamily("ferry_certificate_expiry_timestamp_seconds", MetricType::kGauge,
                  "Unix time at which the workload certificate this node holds for an identity expires.");
  for (const auto& cert : gauges.certificates) {
    std::array<Label, 1> labels{Label{"identity", cert.identity}};
    out.Sample("ferry_certificate_expiry_timestamp_seconds", labels, static_cast<double>(cert.not_after_unix));
  }
  out.BeginFamily("ferry_proxy_connections", MetricType::kGauge,
                  "Connections the proxy relays now, by TLS mode (none, setup, ktls, userspace).");
  std::map<std::string, uint64_t> live = gauges.live_connections_by_tls_mode;
  for (const char* mode : {"none", "setup", "ktls", "userspace"}) live.try_emplace(mode, 0);
  for (const auto& [mode, count] : live) {
    std::array<Label, 1> labels{Label{"tls_mode", mode}};
    out.Sample("ferry_proxy_connections", labels, count);
  }
  out.BeginFamily("ferry_proxy_tls_legs_total", MetricType::kCounter,
                  "Tunnel legs that reached their data phase, by where the TLS record layer ran.");
  std::array<Label, 1> ktls{Label{"tls_mode", "ktls"}};
  std::array<Label, 1> userspace{Label{"tls_mode", "userspace"}};
  out.Sample("ferry_proxy_tls_legs_total", ktls, gauges.legs_ktls_total);
  out.Sample("ferry_proxy_tls_legs_total", userspace, gauges.legs_userspace_total);
  out.BeginFamily("ferry_proxy_tls_legs_resumed_total", MetricType::kCounter,
                  "Tunnel legs that reached their data phase on a resumed TLS session (no certificate exchange).");
  out.Sample("ferry_proxy_tls_legs_resumed_total", {}, gauges.legs_resumed_total);
}

void MeshMetrics::RenderProcess(ExpositionWriter& out) const {
  auto stats = process_();
  if (!stats.ok()) return;  // procfs unreadable: leave the families out rather than report zeros
  out.BeginFamily("ferry_agent_resident_memory_bytes", MetricType::kGauge, "Resident memory of the agent process.");
  out.Sample("ferry_agent_resident_memory_bytes", {}, stats->resident_bytes);
  out.BeginFamily("ferry_agent_cpu_seconds_total", MetricType::kCounter,
                  "User and system CPU time the agent process has used.");
  out.Sample("ferry_agent_cpu_seconds_total", {}, stats->cpu_seconds);
  out.BeginFamily("ferry_agent_open_fds", MetricType::kGauge, "File descriptors the agent process has open.");
  out.Sample("ferry_agent_open_fds", {}, stats->open_fds);
}

}  // namespace ferry::metrics
