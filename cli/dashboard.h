// `ferryctl dashboard`: serves a live service graph of the local cluster on the host —
// services grouped by namespace, request counts, rates, success rates and TrafficSplit shares —
// built from the node agents' metrics, refreshed every --interval until SIGINT or SIGTERM.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>

#include "cli/dashboard_server.h"
#include "cli/local_commands.h"

namespace CLI {
class App;
}

namespace ferry::cli {

struct DashboardOptions {
  std::string state_dir = kDefaultStateDir;
  std::string address = "127.0.0.1";
  uint16_t port = 15050;  // 0 = any free port (printed)
  std::string interval = "2s";
  uint16_t metrics_port = 15020;
  uint16_t admin_port = 15000;
};

// Reads the agents of the local cluster recorded in `state_dir`: each on its node's loopback
// (inside the node's netns), or for /metrics on the node's underlay address where it listens there.
Result<std::unique_ptr<MeshReader>> LocalMeshReader(const std::string& state_dir, uint16_t metrics_port,
                                                    uint16_t admin_port);

// "2s", "500ms", "1m" or a bare number of seconds.
Result<std::chrono::milliseconds> ParseInterval(const std::string& text);

int RunDashboard(const DashboardOptions& options, std::ostream& out, std::ostream& err);
// Registers `dashboard` on `app`; when chosen, sets `run` to a call of RunDashboard.
void AddDashboardCommand(CLI::App& app, std::function<int()>& run, std::string& state_dir);

}  // namespace ferry::cli
