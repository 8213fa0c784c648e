#include "cli/dashboard_server.h"

#include "cli/dashboard_page.h"

namespace ferry::cli {

using nlohmann::json;

namespace {

json EmptyGraph() {
  return {{"nodes", json::array()}, {"edges", json::array()}, {"splits", json::array()}, {"scrapes", json::array()}};
}

int64_t UnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<std::unique_ptr<DashboardServer>> DashboardServer::Start(DashboardServerOptions options,
                                                                 std::unique_ptr<MeshReader> reader) {
  std::unique_ptr<DashboardServer> self(new DashboardServer(options, std::move(reader)));
  self->graph_ = EmptyGraph();
  DashboardServer* raw = self.get();
  int interval_ms = static_cast<int>(options.interval.count());
  admin::AdminRoutes routes;
  routes["/"] = [raw, interval_ms](const admin::AdminRequest&) {
    return admin::AdminResponse::Text(DashboardPageHtml(raw->Graph(), interval_ms), "text/html; charset=utf-8");
  };
  routes["/api/graph"] = [raw](const admin::AdminRequest&) {
    return admin::AdminResponse{200, "application/json",
                                raw->Graph().dump(-1, ' ', false, json::error_handler_t::replace)};
  };
  admin::AdminServerOptions server_options;
  server_options.listen = options.listen;
  server_options.name = "dashboard";
  auto server = admin::AdminServer::Start(server_options, std::move(routes));
  if (!server.ok()) return server.error();
  self->server_ = std::move(*server);
  return self;
}

void DashboardServer::Refresh() {
  std::vector<NodeScrape> scrapes = reader_->ScrapeMetrics();
  // The snapshot changes rarely: when no agent answers, keep the splits and workloads last seen.
  auto dump = reader_->ConfigDump();
  if (dump.ok()) last_config_dump_ = std::move(*dump);
  json graph = model_.Update(scrapes, last_config_dump_, ServiceGraphModel::Clock::now());
  graph["generatedAtUnixMs"] = UnixMillis();
  graph["intervalMs"] = options_.interval.count();
  graph["configDumpError"] = dump.ok() ? "" : dump.error().Message();
  std::lock_guard lock(mu_);
  graph_ = std::move(graph);
}

json DashboardServer::Graph() const {
  std::lock_guard lock(mu_);
  return graph_;
}

}  // namespace ferry::cli
