#include "cli/dashboard.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/admin_client.h"
#include "cli/stop_signals.h"

namespace ferry::cli {

namespace {

struct AgentNetns {
  std::string node;
  std::string netns_path;
  std::string underlay_ip;  // "" without the underlay
};

class LocalClusterReader : public MeshReader {
 public:
  LocalClusterReader(std::vector<AgentNetns> agents, uint16_t metrics_port, uint16_t admin_port)
      : agents_(std::move(agents)), metrics_port_(metrics_port), admin_port_(admin_port) {}

  std::vector<NodeScrape> ScrapeMetrics() override {
    std::vector<NodeScrape> out;
    for (const auto& agent : agents_) {
      NodeScrape scrape{agent.node, "", ""};
      // Metrics listen on the node's underlay address when the cluster has one, else on its loopback.
      auto underlay = ParseIpv4(agent.underlay_ip);
      auto answer = FetchFromNetns(agent.netns_path, Ipv4Endpoint{underlay.value_or(0x7f000001), metrics_port_},
                                   "/metrics", kTimeout);
      if (!answer.ok()) scrape.error = "no answer on :" + std::to_string(metrics_port_) + ": " + answer.error().Message();
      else if (answer->status != 200) scrape.error = "/metrics answered " + std::to_string(answer->status);
      else scrape.metrics_text = std::move(answer->body);
      out.push_back(std::move(scrape));
    }
    return out;
  }

  // Every agent holds the whole mesh's snapshot; the first that answers is enough.
  Result<nlohmann::json> ConfigDump() override {
    std::string why = "no nodes";
    for (const auto& agent : agents_) {
      auto dump = AskAgent(agent.node, agent.netns_path, admin_port_, "/config_dump", kTimeout);
      if (dump.ok()) return dump;
      why = dump.error().Message();
    }
    return MakeError("no agent gave its policy snapshot (" + why + ")");
  }

 private:
  static constexpr std::chrono::milliseconds kTimeout{1500};  // a hung agent must not stall the page
  std::vector<AgentNetns> agents_;
  uint16_t metrics_port_, admin_port_;
};

}  // namespace

Result<std::chrono::milliseconds> ParseInterval(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.'))
    ++digits;
  std::string unit = text.substr(digits);
  double number = 0;
  try {
    number = digits ? std::stod(text.substr(0, digits)) : -1;
  } catch (const std::exception&) {
    number = -1;
  }
  double scale = unit == "ms" ? 1 : unit.empty() || unit == "s" ? 1000 : unit == "m" ? 60000 : -1;
  if (number <= 0 || scale < 0) return MakeError("bad interval \"" + text + "\" (e.g. 2s, 500ms, 1m)");
  auto ms = std::chrono::milliseconds(static_cast<int64_t>(number * scale));
  if (ms < std::chrono::milliseconds(200)) return MakeError("interval " + text + " is below 200ms");
  return ms;
}

Result<std::unique_ptr<MeshReader>> LocalMeshReader(const std::string& state_dir, uint16_t metrics_port,
                                                    uint16_t admin_port) {
  // The state is read once, under its lock only while reading: the dashboard runs for hours.
  auto ctx = OpenRecorded(state_dir);
  if (!ctx.ok()) return ctx.error();
  std::vector<AgentNetns> agents;
  for (const auto& node : ctx->cluster->nodes()) agents.push_back({node.name, node.netns_path, node.underlay_ip});
  return std::unique_ptr<MeshReader>(new LocalClusterReader(std::move(agents), metrics_port, admin_port));
}

int RunDashboard(const DashboardOptions& options, std::ostream& out, std::ostream& err) {
  auto interval = ParseInterval(options.interval);
  auto address = ParseIpv4(options.address);
  if (!interval.ok() || !address) {
    err << "error: " << (!interval.ok() ? interval.error().Message() : "bad --address " + options.address) << "\n";
    return 1;
  }
  auto reader = LocalMeshReader(options.state_dir, options.metrics_port, options.admin_port);
  if (!reader.ok()) {
    err << "error: " << reader.error().Message() << "\n";
    return 1;
  }
  // Before the server's threads start, so they inherit the mask.
  auto stop = BlockStopSignals();
  if (!stop.ok()) {
    err << "error: " << stop.error().Message() << "\n";
    return 1;
  }
  auto server = DashboardServer::Start({Ipv4Endpoint{*address, options.port}, *interval}, std::move(*reader));
  if (!server.ok()) {
    err << "error: cannot serve on " << options.address << ":" << options.port << ": " << server.error().Message()
        << "\n";
    return 1;
  }
  (*server)->Refresh();
  out << "Dashboard: http://" << (*server)->local_endpoint().ToString() << "/" << std::endl;
  out << "Refreshing every " << interval->count() << " ms; Ctrl-C to stop." << std::endl;
  while (!StopRequested(stop->get(), *interval)) (*server)->Refresh();
  out << "Dashboard stopped." << std::endl;
  return 0;
}

void AddDashboardCommand(CLI::App& app, std::function<int()>& run, std::string& state_dir) {
  static DashboardOptions options;
  CLI::App* cmd = app.add_subcommand("dashboard", "serve a live service graph of the local cluster (request counts, "
                                                  "success rates, TrafficSplit shares) until Ctrl-C");
  cmd->add_option("--address", options.address, "address to listen on (the host's)")->capture_default_str();
  cmd->add_option("--port", options.port, "port to listen on; 0 = any free port")->capture_default_str();
  cmd->add_option("--interval", options.interval, "how often the agents are read and the page redraws")
      ->capture_default_str();
  cmd->add_option("--metrics-port", options.metrics_port, "the agents' Prometheus port")->capture_default_str();
  cmd->add_option("--admin-port", options.admin_port, "the agents' debug port")->capture_default_str();
  cmd->add_option("--state", state_dir, "state directory of the local cluster")->capture_default_str();
  cmd->callback([&] {
    run = [&] {
      options.state_dir = state_dir;
      return RunDashboard(options, std::cout, std::cerr);
    };
  });
}

}  // namespace ferry::cli
