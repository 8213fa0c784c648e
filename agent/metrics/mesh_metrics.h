// The node agent's Prometheus metrics: what the data path records as it goes (connections,
// bytes, HTTP exchanges, denials) plus gauges read at scrape time (policy snapshot, certificate
// expiry, live connections by TLS mode, the agent's own resource use).
//
// Recording is thread-safe and cheap: one mutex and one map lookup per event, keyed by a small
// tuple of bounded labels (workloads, namespaces, service accounts, reporter, security, code).
// Per-connection values (addresses, ports, paths, pod names) never become labels.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "agent/metrics/metric_families.h"
#include "agent/metrics/process_stats.h"
#include "agent/metrics/workload_names.h"

namespace ferry::metrics {

// Which end of the exchange the reporting agent served (an agent serving both ends of a
// same-node connection reports it once as each).
enum class Reporter { kSource, kDestination };

// How a connection's bytes were protected. kMtls is what a tunnelled connection is when it
// opens (the TLS mode is known only after its handshake) and when its handshake never finished.
enum class ConnectionSecurity { kNone, kMtls, kMtlsKtls, kMtlsUserspace };
const char* ConnectionSecurityName(ConnectionSecurity security);
// From proxy::ConnectionStats::tls_mode: "ktls", "userspace", "setup" or "none".
ConnectionSecurity SecurityFromTlsMode(std::string_view tls_mode);

struct TrafficLabels {
  Reporter reporter = Reporter::kSource;
  Peer source;
  Peer destination;
};

// Gauges the agent owns elsewhere, read once per scrape.
struct AgentGauges {
  struct Certificate {
    std::string identity;  // "ns/sa" (bounded: one per service account on the node)
    int64_t not_after_unix = 0;
  };
  std::vector<Certificate> certificates;
  // Live proxied connections by the engine's tls_mode ("none", "setup", "ktls", "userspace").
  std::map<std::string, uint64_t> live_connections_by_tls_mode;
  // Tunnel legs that reached their data phase, cumulative (ProxyStats::legs_ktls/legs_userspace).
  uint64_t legs_ktls_total = 0;
  uint64_t legs_userspace_total = 0;
  uint64_t legs_resumed_total = 0;  // of those, on a resumed TLS session
};

class MeshMetrics {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  using GaugeSource = std::function<AgentGauges()>;
  using ProcessSource = std::function<Result<ProcessStats>()>;

  // `clock` and `process` are injectable for tests; the defaults read the wall clock and procfs.
  explicit MeshMetrics(Clock clock = nullptr, ProcessSource process = nullptr);
  MeshMetrics(const MeshMetrics&) = delete;
  MeshMetrics& operator=(const MeshMetrics&) = delete;

  void ConnectionOpened(const TrafficLabels& labels, ConnectionSecurity security);
  // `received` = bytes from the client (request direction), `sent` = bytes back to it.
  void ConnectionClosed(const TrafficLabels& labels, ConnectionSecurity security, uint64_t received,
                        uint64_t sent);
  // One finished HTTP exchange; status 0 = the connection broke before a response.
  void RequestDone(const TrafficLabels& labels, int status, std::chrono::microseconds duration);
  void Denied(std::string_view reason);
  // The agent installed policy snapshot `version` now (its age is measured from here).
  void PolicyApplied(uint64_t version);
  // Read at every render; replaces the previous source. Null = those gauges are left out.
  void SetGaugeSource(GaugeSource source);

  // Names the far end of a connection by address from the current snapshot.
  WorkloadDirectory& workloads() { return workloads_; }

  // Text exposition format 0.0.4; families in a fixed order, series sorted by labels.
  std::string RenderPrometheusText() const;

  // For tests and the debug endpoint.
  const CounterFamily& connections_opened() const { return opened_; }
  const CounterFamily& connections_closed() const { return closed_; }
  const CounterFamily& received_bytes() const { return received_; }
  const CounterFamily& sent_bytes() const { return sent_; }
  const CounterFamily& requests() const { return requests_; }
  const HistogramFamily& request_durations() const { return durations_; }
  const CounterFamily& denied() const { return denied_; }

 private:
  void RenderGauges(ExpositionWriter& out) const;
  void RenderProcess(ExpositionWriter& out) const;

  Clock clock_;
  ProcessSource process_;
  WorkloadDirectory workloads_;
  CounterFamily opened_, closed_, received_, sent_;
  CounterFamily requests_;
  HistogramFamily durations_;
  CounterFamily denied_;

  mutable std::mutex gauges_mu_;
  bool policy_applied_ = false;
  uint64_t policy_version_ = 0;
  std::chrono::system_clock::time_point policy_applied_at_{};
  GaugeSource gauge_source_;
};

}  // namespace ferry::metrics
