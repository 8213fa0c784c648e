// ferry-controller's Prometheus endpoint: GET /metrics on its own plain-HTTP port (default
// 127.0.0.1:15014), rendered from Controller::Status() at each scrape. Read-only, so unlike the
// gRPC port it needs no token; it is still bound to one explicit address, never a wildcard.
//
// It reuses the agent's AdminServer (GET only, bounded connection slots, idle timeout) rather
// than a second HTTP server: the same hardening, one implementation to review.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "agent/admin/admin_server.h"
#include "common/ipv4.h"
#include "common/result.h"
#include "controlplane/server/controller_status.h"

namespace ferry::controlplane {

inline constexpr const char* kDefaultMetricsAddress = "127.0.0.1:15014";

// The --metrics-address value: nullopt when metrics are off ("" or port 0); an error for
// anything that is not IPv4:port or names the wildcard address.
Result<std::optional<Ipv4Endpoint>> ParseMetricsAddress(const std::string& text);

// Serves /metrics until destroyed. `status` is called on the server's thread at every scrape and
// must be thread-safe (Controller::Status() is).
Result<std::unique_ptr<admin::AdminServer>> StartMetricsEndpoint(Ipv4Endpoint listen,
                                                                 std::function<ControllerStatus()> status);

}  // namespace ferry::controlplane
