// `ferryctl dashboard`'s web server: GET / (the page) and GET /api/graph (the service graph as
// JSON), served by the agents' GET-only AdminServer. The graph is rebuilt by Refresh(), which the
// command calls every interval; requests only read the latest graph, so a slow agent never
// holds up the page.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "agent/admin/admin_server.h"
#include "cli/dashboard_model.h"
#include "common/ipv4.h"
#include "common/result.h"

namespace ferry::cli {

// Where the numbers come from; a fake in tests, the local cluster's agents in ferryctl.
class MeshReader {
 public:
  virtual ~MeshReader() = default;
  virtual std::vector<NodeScrape> ScrapeMetrics() = 0;  // one entry per node, failed ones included
  virtual Result<nlohmann::json> ConfigDump() = 0;      // one agent's /config_dump (the snapshot)
};

struct DashboardServerOptions {
  Ipv4Endpoint listen;  // port 0 = a free port
  std::chrono::milliseconds interval{2000};
};

class DashboardServer {
 public:
  // Listens at once; the graph is empty until the first Refresh().
  static Result<std::unique_ptr<DashboardServer>> Start(DashboardServerOptions options,
                                                        std::unique_ptr<MeshReader> reader);
  // Reads every agent once and replaces the graph served.
  void Refresh();
  nlohmann::json Graph() const;
  Ipv4Endpoint local_endpoint() const { return server_->local_endpoint(); }

 private:
  DashboardServer(DashboardServerOptions options, std::unique_ptr<MeshReader> reader)
      : options_(options), reader_(std::move(reader)) {}

  DashboardServerOptions options_;
  std::unique_ptr<MeshReader> reader_;
  ServiceGraphModel model_;  // only Refresh() touches it
  nlohmann::json last_config_dump_ = nlohmann::json::object();
  mutable std::mutex mu_;
  nlohmann::json graph_;  // guarded by mu_
  std::unique_ptr<admin::AdminServer> server_;  // last: stopped before the rest goes away
};

}  // namespace ferry::cli
