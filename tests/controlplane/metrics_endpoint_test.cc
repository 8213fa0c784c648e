// ferry-controller's /metrics endpoint against a live controller and agent client: what an
// operator's Prometheus scrapes is valid (promtool) and its counters only ever grow, counting
// snapshots served, ACKs, NACKs and rejected resources (once per rejection, not per reload).
#include "controlplane/server/metrics_endpoint.h"

#include <gtest/gtest.h>

#include "../admin/admin_test_client.h"
#include "../metrics/metrics_text.h"
#include "../metrics/promtool.h"
#include "controller_fixture.h"
#include "test_manifests.h"
#include "test_result.h"

namespace ferry::controlplane {
namespace {

using namespace testing;  // NOLINT
using metrics::testing::SampleValue;

constexpr uint32_t kLoopback = 0x7f000001;

TEST(MetricsAddress, OffWhenEmptyOrPortZeroAndNeverAWildcard) {
  auto off = ParseMetricsAddress("");
  ASSERT_OK(off);
  EXPECT_FALSE(off->has_value());
  auto port_zero = ParseMetricsAddress("127.0.0.1:0");
  ASSERT_OK(port_zero);
  EXPECT_FALSE(port_zero->has_value());
  auto on = ParseMetricsAddress("198.19.0.1:15014");
  ASSERT_OK(on);
  ASSERT_TRUE(on->has_value());
  EXPECT_EQ((*on)->ToString(), "198.19.0.1:15014");
  EXPECT_ERR(ParseMetricsAddress("0.0.0.0:15014"));
  EXPECT_ERR(ParseMetricsAddress("localhost:15014"));
  EXPECT_ERR(ParseMetricsAddress("127.0.0.1"));
}

class ControllerMetricsEndpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.Write("shop.yaml", Docs({Namespace("shop"), TcpRoute("db-port")}) + "---\n" + Target("api-to-db"));
    auto controller = Controller::Start(TestControllerOptions(dir_));
    ASSERT_OK(controller);
    controller_ = std::move(controller).value();
    Controller* served = controller_.get();
    auto endpoint = StartMetricsEndpoint(Ipv4Endpoint{kLoopback, 0}, [served] { return served->Status(); });
    ASSERT_OK(endpoint);
    endpoint_ = std::move(endpoint).value();
    client_ = std::make_unique<xds::PolicyClient>(TestClientOptions(*controller_, "node-a"), agent_->Callback());
    client_->Start();
  }
  void TearDown() override {
    if (client_) client_->Stop();
    endpoint_.reset();
    if (controller_) controller_->Stop();
  }

  std::string Scrape() {
    std::string response = admin::testing::Get(endpoint_->local_endpoint(), "/metrics");
    EXPECT_EQ(admin::testing::StatusLine(response), "HTTP/1.1 200 OK");
    return admin::testing::Body(response);
  }
  double Value(const std::string& series) { return SampleValue(Scrape(), series).value_or(-1); }

  TempDir dir_;
  std::unique_ptr<Controller> controller_;
  std::unique_ptr<admin::AdminServer> endpoint_;
  std::shared_ptr<RecordingAgent> agent_ = std::make_shared<RecordingAgent>();
  std::unique_ptr<xds::PolicyClient> client_;
};

TEST_F(ControllerMetricsEndpoint, CountsSnapshotsAcksNacksAndRejectionsCumulatively) {
  const std::string node = "{node=\"node-a\"}";
  ASSERT_TRUE(WaitFor([&] { return Value("ferry_controller_acks_total" + node) == 1; })) << Scrape();
  EXPECT_EQ(Value("ferry_controller_snapshots_served_total" + node), 1);
  EXPECT_EQ(Value("ferry_controller_nacks_total" + node), 0);

  // The agent refuses the next snapshot: a NACK, and the ACK count stays.
  agent_->RefuseWhen([](const v1::PolicySnapshot& s) -> std::optional<std::string> {
    if (HasAuthorization(s, "too-much")) return "policy too large for this node";
    return std::nullopt;
  });
  dir_.Write("more.yaml", Target("too-much", "web"));
  ASSERT_TRUE(WaitFor([&] { return Value("ferry_controller_nacks_total" + node) == 1; })) << Scrape();
  EXPECT_EQ(Value("ferry_controller_snapshots_served_total" + node), 2);
  EXPECT_EQ(Value("ferry_controller_acks_total" + node), 1);
  EXPECT_EQ(Value("ferry_controller_nodes_nacking"), 1);

  // A broken resource is counted once under its reason, however many reloads see it.
  dir_.Write("broken.yaml", BrokenTarget("broken-target"));
  const std::string invalid = "ferry_controller_resources_rejected_total{reason=\"invalid-spec\"}";
  ASSERT_TRUE(WaitFor([&] { return Value(invalid) == 1; })) << Scrape();
  const double reloads = Value("ferry_controller_reloads_total");
  dir_.Write("other.yaml", Target("web-to-db", "web2"));
  ASSERT_TRUE(WaitFor([&] { return Value("ferry_controller_reloads_total") > reloads; }));
  EXPECT_EQ(Value(invalid), 1);
  EXPECT_EQ(Value("ferry_controller_resources_rejected_total{reason=\"duplicate\"}"), 0);
  EXPECT_EQ(Value("ferry_controller_rejected_resources{kind=\"TrafficTarget\",reason=\"invalid-spec\","
                  "kept_last_good=\"false\"}"),
            1);
}

TEST_F(ControllerMetricsEndpoint, LiveScrapePassesPromtool) {
  FERRY_REQUIRE_PROMTOOL(promtool);
  ASSERT_TRUE(WaitFor([&] { return Value("ferry_controller_acks_total{node=\"node-a\"}") == 1; }));
  std::string text = Scrape();
  auto result = metrics::testing::RunPromtool(promtool, text);
  EXPECT_EQ(result.exit_code, 0) << result.output << "\n--- scrape ---\n" << text;
  // Anything but /metrics is a 404, and the endpoint only answers GET.
  EXPECT_EQ(admin::testing::StatusLine(admin::testing::Get(endpoint_->local_endpoint(), "/certs")),
            "HTTP/1.1 404 Not Found");
}

}  // namespace
}  // namespace ferry::controlplane
