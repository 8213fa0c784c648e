// A real Prometheus (Debian's /usr/bin/prometheus, started by the test) scrapes a two-node
// `ferryctl local` cluster running the shipped canary example: both agents on their node's
// underlay address (:15020) and the controller on the host's (:15014), with the scrape config
// ferry renders for the local cluster (LocalScrapeConfig). After 200 requests through the 90/10
// TrafficSplit and a few refused ones, PromQL over Prometheus' HTTP API shows the split share,
// the denials and the controller's counters, exactly as an operator's dashboard would.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "ferryctl_fixture.h"
#include "local/cluster.h"
#include "metrics/metrics_text.h"

namespace ferry::vmtest {
namespace {

using nlohmann::json;

constexpr const char* kPrometheus = "/usr/bin/prometheus";
const std::string kExamples = std::string(FERRY_SOURCE_DIR) + "/examples/";
const std::string kV2Body = R"(["Value 4","Value 5","Value 6"])";
const std::string kSplitUrl = "http://api.canary-app/api/values";
// What the frontend's agent (node-1, the source of every request) counted for the canary.
const std::string kCanaryRequests = R"(ferry_requests_total{reporter="source",destination_namespace="canary-app"})";

// A port on 127.0.0.1 nobody listens on right now.
uint16_t FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0)
    port = ntohs(sa.sin_port);
  ::close(fd);
  return port;
}

// GET with curl from the host; the body, or "" when it failed.
std::string HttpGet(const std::string& url, const std::vector<std::string>& extra = {}) {
  local::SpawnOptions o;
  o.argv = {"/usr/bin/curl", "-sf", "-m", "5", url};
  o.argv.insert(o.argv.end(), extra.begin(), extra.end());
  auto r = local::RunCommand(o, std::chrono::seconds(10));
  return r.ok() && r->exit_code == 0 ? r->output : std::string();
}

local::CommandResult PromtoolCheckMetrics(const std::string& text) {
  local::SpawnOptions o;
  o.argv = {"/bin/sh", "-c", "promtool check metrics 2>&1"};
  o.stdin_data = text;
  auto r = local::RunCommand(o, std::chrono::seconds(30));
  return r.ok() ? *r : local::CommandResult{-1, r.error().Message(), ""};
}

// Prometheus as a child of the test: stopped by its PID and its directory removed, however the
// test ends.
class PrometheusServer {
 public:
  PrometheusServer() : dir_("/tmp/prom-vmtest-" + std::to_string(::getpid())) {}
  ~PrometheusServer() {
    if (pid_ > 0) local::StopProcess(pid_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  Result<void> Start(const std::string& config) {
    std::filesystem::create_directories(dir_ + "/data");
    std::ofstream(dir_ + "/prometheus.yml") << config;
    port_ = FreeLoopbackPort();
    local::SpawnOptions o;
    o.argv = {kPrometheus, "--config.file=" + dir_ + "/prometheus.yml",
              "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--storage.tsdb.path=" + dir_ + "/data"};
    o.stdout_path = dir_ + "/prometheus.log";
    o.working_dir = dir_;
    auto pid = local::Spawn(o);
    if (!pid.ok()) return pid.error();
    pid_ = *pid;
    return Ok();
  }

  // The `data.result` of an instant query (evaluated now); empty when it failed.
  json Query(const std::string& promql) const {
    std::string body = HttpGet("http://127.0.0.1:" + std::to_string(port_) + "/api/v1/query",
                               {"--get", "--data-urlencode", "query=" + promql});
    json doc = json::parse(body, nullptr, false);
    if (doc.is_discarded() || doc.value("status", "") != "success") return json::array();
    return doc["data"].value("result", json::array());
  }
  // The value of a query returning one series (or a scalar-like single vector), NaN otherwise.
  double Scalar(const std::string& promql) const {
    json result = Query(promql);
    if (result.size() != 1) return std::nan("");
    return std::stod(result[0]["value"][1].get<std::string>());
  }
  std::string Log() const {
    std::ifstream in(dir_ + "/prometheus.log");
    std::stringstream text;
    text << in.rdbuf();
    std::string all = text.str();
    return all.size() > 3000 ? all.substr(all.size() - 3000) : all;
  }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

using metrics::testing::SumSamples;

class PrometheusTest : public FerryctlFixture {
 protected:
  PrometheusTest() { deploy_shop_ = false; }

  void SetUp() override {
    if (::access(kPrometheus, X_OK) != 0) {
      if (const char* ci = std::getenv("CI"); ci != nullptr && std::string(ci) == "true")
        FAIL() << kPrometheus << " is missing (Debian package prometheus, scripts/setup.sh)";
      GTEST_SKIP() << kPrometheus << " is missing (Debian package prometheus)";
    }
    // The manifests run `ferry-example-app` by name, as an operator's PATH would find it.
    std::string dir = std::filesystem::path(FERRY_EXAMPLE_APP_BIN).parent_path();
    const char* path = std::getenv("PATH");
    setenv("PATH", (dir + ":" + (path ? path : "/usr/bin:/bin")).c_str(), 1);
    FerryctlFixture::SetUp();
  }
  void TearDown() override {
    if (HasFailure() && prometheus_) std::cerr << "---- prometheus (tail) ----\n" << prometheus_->Log() << "\n";
    prometheus_.reset();
    FerryctlFixture::TearDown();
  }

  json Client(const std::string& ns, const std::string& deploy, const std::string& url, int count) {
    return ExecJson(ns, deploy, FERRY_EXAMPLE_APP_BIN, {"client", "--url", url, "--count", std::to_string(count)},
                    std::chrono::seconds(120));
  }
  static int Count(const json& report, const char* field, const std::string& key) {
    return report.contains(field) ? report[field].value(key, 0) : 0;
  }

  std::unique_ptr<PrometheusServer> prometheus_;
};

TEST_F(PrometheusTest, ScrapesTheClusterAndPromQlShowsTheSplitDenialsAndControllerCounters) {
  for (const char* file : {"00-namespace.yaml", "10-apps.yaml", "20-access.yaml", "30-split.yaml"}) {
    auto r = Ctl({"local", "apply", "-f", kExamples + "canary-app/" + file});
    ASSERT_EQ(r.exit_code, 0) << file << ": " << r.output << r.errors;
  }
  // Scrape config as ferry renders it for this cluster, every second.
  auto cluster = local::LocalCluster::Open(state_);
  ASSERT_TRUE(cluster.ok()) << cluster.error().Message();
  auto targets = local::ScrapeTargets(**cluster);
  ASSERT_EQ(targets.size(), 3u);
  EXPECT_EQ(targets[0].address, "198.19.0.11:15020");
  EXPECT_EQ(targets[2].address, "198.19.0.1:15014");
  prometheus_ = std::make_unique<PrometheusServer>();
  auto started = prometheus_->Start(local::LocalScrapeConfig(**cluster, std::chrono::seconds(1)));
  ASSERT_TRUE(started.ok()) << started.error().Message();

  // Both backends answer through the split (api-v2 is across the tunnel).
  auto ready = WaitFor([&] {
    auto r = Client("canary-app", "deploy/frontend", kSplitUrl, 20);
    return Count(r, "status", "200") == 20 && Count(r, "bodies", kV2Body) > 0;
  }, std::chrono::seconds(60));
  ASSERT_TRUE(ready) << Client("canary-app", "deploy/frontend", kSplitUrl, 20).dump();

  // Every target is up, the controller included.
  ASSERT_TRUE(WaitFor([&] {
    json up = prometheus_->Query(R"(up{job=~"ferry-agent|ferry-controller"})");
    int ones = 0;
    for (const auto& s : up) ones += s["value"][1] == "1" ? 1 : 0;
    return up.size() == 3 && ones == 3;
  }, std::chrono::seconds(60))) << prometheus_->Query("up").dump();

  // Baseline: once Prometheus holds node-1's count of the warm-up requests, remember when.
  const double warmup = SumSamples(HttpGet("http://198.19.0.11:15020/metrics"), "ferry_requests_total",
                                   {"reporter=\"source\"", "destination_namespace=\"canary-app\""});
  ASSERT_GT(warmup, 0);
  ASSERT_TRUE(WaitFor([&] { return prometheus_->Scalar("sum(" + kCanaryRequests + ")") == warmup; },
                      std::chrono::seconds(60)))
      << "Prometheus has " << prometheus_->Scalar("sum(" + kCanaryRequests + ")") << ", node-1 counted " << warmup;
  const double t0 = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string at_t0 = " @ " + std::to_string(t0);

  // 200 requests through the split; and a pod without a TrafficTarget to api-v2 is refused.
  auto split = Client("canary-app", "deploy/frontend", kSplitUrl, 200);
  ASSERT_EQ(Count(split, "status", "200"), 200) << split.dump();
  auto denied = Client("canary-app", "deploy/api-v1", "http://api-v2.canary-app/api/values", 3);
  EXPECT_EQ(Count(denied, "status", "200"), 0) << denied.dump();

  // The share of each backend among the requests since t0, in one PromQL query.
  const std::string since_t0_by_backend = "(sum by (destination_workload) (" + kCanaryRequests +
                                          ") - sum by (destination_workload) (" + kCanaryRequests + at_t0 + "))";
  const std::string since_t0_total = "(sum(" + kCanaryRequests + ") - sum(" + kCanaryRequests + at_t0 + "))";
  ASSERT_TRUE(WaitFor([&] { return prometheus_->Scalar(since_t0_total) == 200; }, std::chrono::seconds(60)))
      << since_t0_total << " = " << prometheus_->Scalar(since_t0_total);
  json shares = prometheus_->Query(since_t0_by_backend + " / scalar(" + since_t0_total + ")");
  std::map<std::string, double> share;
  for (const auto& s : shares)
    share[s["metric"].value("destination_workload", "?")] = std::stod(s["value"][1].get<std::string>());
  EXPECT_GE(share["api-v1"], 0.85) << shares.dump();
  EXPECT_LE(share["api-v1"], 0.95) << shares.dump();
  EXPECT_GE(share["api-v2"], 0.05) << shares.dump();
  EXPECT_LE(share["api-v2"], 0.15) << shares.dump();
  std::cerr << "split share since t0 from PromQL: " << shares.dump() << "\n";

  // The refusals, and the controller's own counters.
  EXPECT_TRUE(WaitFor([&] { return prometheus_->Scalar("sum(ferry_denied_total)") > 0; }, std::chrono::seconds(30)))
      << prometheus_->Query("ferry_denied_total").dump();
  EXPECT_GT(prometheus_->Scalar("sum(ferry_controller_snapshots_served_total)"), 0);
  EXPECT_GT(prometheus_->Scalar("ferry_controller_certificates_signed_total"), 0);

  // Both exporters' live text passes promtool.
  for (const char* url : {"http://198.19.0.1:15014/metrics", "http://198.19.0.11:15020/metrics"}) {
    std::string text = HttpGet(url);
    ASSERT_FALSE(text.empty()) << url;
    auto check = PromtoolCheckMetrics(text);
    EXPECT_EQ(check.exit_code, 0) << url << ": " << check.output;
  }
}

}  // namespace
}  // namespace ferry::vmtest
