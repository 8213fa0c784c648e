// What ships in daemonset/ for clusters that run Prometheus and Grafana: promtool accepts the
// scrape config, and every metric family and label the dashboard queries is one the agent or the
// controller exports — renaming a metric without updating the dashboard fails here.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "../metrics/promtool.h"
#include "agent/metrics/controller_metrics.h"
#include "agent/metrics/mesh_metrics.h"

namespace ferry {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kDir = FERRY_DAEMONSET_DIR;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Exit code and output of `promtool check config FILE`.
metrics::testing::PromtoolResult CheckConfig(const std::string& promtool, const fs::path& file) {
  std::string command = "'" + promtool + "' check config '" + file.string() + "' 2>&1";
  metrics::testing::PromtoolResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

class TempFile {
 public:
  explicit TempFile(const std::string& content)
      : path_(fs::temp_directory_path() / ("prom-daemonset-" + std::to_string(::getpid()) + "-" +
                                           std::to_string(counter_++) + ".yml")) {
    std::ofstream(path_) << content;
  }
  ~TempFile() { fs::remove(path_); }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

// Debian's prometheus is built without Kubernetes service discovery, so its promtool refuses
// `kubernetes_sd_configs`. There the config is checked with each discovery block swapped for a
// static target: everything else (jobs, relabelling rules, regexes) is still checked by promtool.
std::string WithoutKubernetesDiscovery(const std::string& config) {
  YAML::Node doc = YAML::Load(config);
  for (YAML::Node job : doc["scrape_configs"]) {
    if (!job["kubernetes_sd_configs"]) continue;
    job.remove("kubernetes_sd_configs");
    YAML::Node target;
    target["targets"].push_back("127.0.0.1:15020");
    job["static_configs"].push_back(target);
  }
  YAML::Emitter out;
  out << doc;
  return out.c_str();
}

bool PromtoolKnowsKubernetes(const std::string& promtool) {
  TempFile probe("scrape_configs:\n  - job_name: probe\n    kubernetes_sd_configs:\n      - role: pod\n");
  return CheckConfig(promtool, probe.path()).exit_code == 0;
}

TEST(DaemonsetPrometheus, ConfigPassesPromtoolAndKeepsTheAgentAndControllerPorts) {
  FERRY_REQUIRE_PROMTOOL(promtool);
  const std::string config = ReadAll(kDir / "prometheus.yaml");
  ASSERT_FALSE(config.empty());
  if (PromtoolKnowsKubernetes(promtool)) {
    auto result = CheckConfig(promtool, kDir / "prometheus.yaml");
    EXPECT_EQ(result.exit_code, 0) << result.output;
  } else {
    std::cout << "note: this promtool has no Kubernetes discovery (Debian's build); checking the config "
                 "with static targets in its place\n";
    TempFile swapped(WithoutKubernetesDiscovery(config));
    auto result = CheckConfig(promtool, swapped.path());
    EXPECT_EQ(result.exit_code, 0) << result.output << "\n--- checked ---\n" << ReadAll(swapped.path());
  }
  // Pod discovery, keeping exactly the agent's 15020 and the controller's 15014.
  YAML::Node doc = YAML::Load(config);
  std::map<std::string, std::string> keep_by_job;
  for (const YAML::Node& job : doc["scrape_configs"]) {
    EXPECT_EQ(job["kubernetes_sd_configs"][0]["role"].as<std::string>(""), "pod");
    for (const YAML::Node& rule : job["relabel_configs"]) {
      if (rule["action"].as<std::string>("") == "keep")
        keep_by_job[job["job_name"].as<std::string>()] = rule["regex"].as<std::string>();
    }
  }
  EXPECT_EQ(keep_by_job["ferry-agent"], "ferry-agent;15020");
  EXPECT_EQ(keep_by_job["ferry-controller"], "ferry-controller;15014");
}

// Everything the agent and the controller export, rendered with at least one series each.
struct Exported {
  std::set<std::string> names;   // families, plus _bucket/_sum/_count of histograms
  std::set<std::string> labels;  // label names of any series
};

std::string RenderAgent() {
  metrics::MeshMetrics mesh(nullptr, [] { return Result<metrics::ProcessStats>(metrics::ProcessStats{1, 1, 1}); });
  metrics::TrafficLabels labels{metrics::Reporter::kSource, {"web", "shop", "web"}, {"api", "shop", "api"}};
  mesh.ConnectionOpened(labels, metrics::ConnectionSecurity::kMtls);
  mesh.ConnectionClosed(labels, metrics::ConnectionSecurity::kMtlsKtls, 1, 1);
  mesh.RequestDone(labels, 200, std::chrono::microseconds(1500));
  mesh.Denied("policy");
  mesh.PolicyApplied(7);
  mesh.SetGaugeSource([] {
    metrics::AgentGauges gauges;
    gauges.certificates.push_back({"shop/api", 2000000000});
    gauges.live_connections_by_tls_mode["ktls"] = 1;
    return gauges;
  });
  return mesh.RenderPrometheusText();
}

std::string RenderController() {
  controlplane::ControllerStatus status;
  controlplane::NodeStatus node;
  node.node = "node-1";
  status.nodes.push_back(node);
  controlplane::ReportedRejection rejection;
  rejection.rejection.kind = "TrafficSplit";
  status.rejections.push_back(rejection);
  return metrics::RenderControllerMetrics(status);
}

Exported CollectExported() {
  Exported out;
  const std::regex type_line(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$)");
  const std::regex label_name(R"(([a-zA-Z_][a-zA-Z0-9_]*)=")");
  for (const std::string& text : {RenderAgent(), RenderController()}) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      std::smatch m;
      if (std::regex_match(line, m, type_line)) {
        out.names.insert(m[1]);
        if (m[2] == "histogram")
          for (const char* suffix : {"_bucket", "_sum", "_count"}) out.names.insert(m[1].str() + suffix);
        continue;
      }
      if (line.empty() || line[0] == '#') continue;
      std::string series = line.substr(0, line.rfind(' '));
      for (std::sregex_iterator it(series.begin(), series.end(), label_name), end; it != end; ++it)
        out.labels.insert((*it)[1]);
    }
  }
  return out;
}

// Every PromQL expression of the dashboard: panel targets and templating queries.
std::vector<std::string> DashboardExpressions(const json& dashboard) {
  std::vector<std::string> out;
  for (const json& panel : dashboard.at("panels")) {
    EXPECT_FALSE(panel.value("targets", json::array()).empty()) << panel.value("title", "");
    for (const json& target : panel.value("targets", json::array())) out.push_back(target.value("expr", ""));
  }
  for (const json& variable : dashboard["templating"].value("list", json::array()))
    if (variable.value("type", "") == "query") out.push_back(variable.value("definition", ""));
  return out;
}

TEST(DaemonsetGrafana, DashboardQueriesOnlyExportedFamiliesAndLabels) {
  const json dashboard = json::parse(ReadAll(kDir / "grafana-dashboard.json"), nullptr, false);
  ASSERT_FALSE(dashboard.is_discarded()) << "grafana-dashboard.json is not JSON";
  const Exported exported = CollectExported();
  ASSERT_TRUE(exported.names.contains("ferry_request_duration_seconds_bucket"));
  ASSERT_TRUE(exported.names.contains("ferry_controller_nacks_total"));

  // Labels Prometheus adds itself, and ones the scrape config sets.
  std::set<std::string> labels = exported.labels;
  labels.insert({"le", "instance", "job", "node", "pod", "__name__"});
  const std::regex metric(R"(\bferry_[a-zA-Z0-9_:]*)");
  const std::regex grouping(R"(\b(?:by|on|ignoring|without)\s*\(([^)]*)\))");
  const std::regex matcher(R"(([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=))");
  const std::regex selector(R"(\{([^}]*)\})");
  std::set<std::string> used;
  for (const std::string& expr : DashboardExpressions(dashboard)) {
    ASSERT_FALSE(expr.empty());
    for (std::sregex_iterator it(expr.begin(), expr.end(), metric), end; it != end; ++it) {
      used.insert(it->str());
      EXPECT_TRUE(exported.names.contains(it->str())) << it->str() << " is not exported, in: " << expr;
    }
    std::vector<std::string> label_uses;
    for (std::sregex_iterator it(expr.begin(), expr.end(), grouping), end; it != end; ++it) {
      std::stringstream list((*it)[1].str());
      for (std::string name; std::getline(list, name, ',');) {
        name.erase(0, name.find_first_not_of(' '));
        name.erase(name.find_last_not_of(' ') + 1);
        if (!name.empty()) label_uses.push_back(name);
      }
    }
    for (std::sregex_iterator it(expr.begin(), expr.end(), selector), end; it != end; ++it) {
      std::string inside = (*it)[1].str();
      for (std::sregex_iterator m(inside.begin(), inside.end(), matcher), e; m != e; ++m) label_uses.push_back((*m)[1]);
    }
    for (const std::string& name : label_uses)
      EXPECT_TRUE(labels.contains(name)) << "label " << name << " is not exported, in: " << expr;
  }
  // The panels the issue names are all there.
  for (const char* family : {"ferry_requests_total", "ferry_request_duration_seconds_bucket", "ferry_denied_total",
                             "ferry_tcp_connections_opened_total", "ferry_tcp_sent_bytes_total", "ferry_proxy_connections",
                             "ferry_policy_snapshot_age_seconds", "ferry_certificate_expiry_timestamp_seconds",
                             "ferry_agent_resident_memory_bytes", "ferry_agent_cpu_seconds_total",
                             "ferry_controller_nacks_total", "ferry_controller_resources_rejected_total",
                             "ferry_controller_certificates_signed_total", "ferry_controller_certificates_refused_total"})
    EXPECT_TRUE(used.contains(family)) << "no panel shows " << family;
}

TEST(DaemonsetGrafana, PanelsHaveUniqueIdsAndAPrometheusDataSource) {
  const json dashboard = json::parse(ReadAll(kDir / "grafana-dashboard.json"), nullptr, false);
  ASSERT_FALSE(dashboard.is_discarded());
  EXPECT_FALSE(dashboard.value("uid", "").empty());
  std::set<int> ids;
  for (const json& panel : dashboard.at("panels")) {
    EXPECT_TRUE(ids.insert(panel.value("id", 0)).second) << "duplicate panel id " << panel.value("id", 0);
    EXPECT_EQ(panel["datasource"].value("type", ""), "prometheus") << panel.value("title", "");
  }
  EXPECT_GE(ids.size(), 10u);
}

}  // namespace
}  // namespace ferry
