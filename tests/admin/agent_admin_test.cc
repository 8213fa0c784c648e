#include "agent/admin/agent_admin.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <atomic>

#include "admin_test_client.h"
#include "test_result.h"

namespace ferry::admin {
namespace {

using namespace ferry::admin::testing;
using nlohmann::json;

// What the agent's enrollment API answers to {"op":"status"}, trimmed.
json FakeStatus() {
  return {{"ok", true},
          {"node", "node-1"},
          {"kernelTls", false},
          {"proxy", {{"active", 1}}},
          {"connections",
           {{{"source", "shop/frontend"}, {"destination", "shop/api"}, {"tlsMode", "userspace"}, {"bytesOut", 10}}}},
          {"identities",
           {{{"workload", "shop/api"}, {"spiffeId", "spiffe://cluster.local/ns/shop/sa/api"}, {"serial", "0a1b"},
             {"notAfter", 1900000000}}}}};
}

class AgentAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sources_.status = [] { return FakeStatus(); };
    sources_.config_dump = [] {
      v1::PolicySnapshot s;
      s.set_version(7);
      auto* w = s.add_workloads();
      w->set_name("api-0");
      w->set_namespace_("shop");
      w->set_service_account("api");
      return ConfigDumpJson(s, 7, {{"state", "acked"}});
    };
    sources_.workloads = [] {
      inpod::PodSpec api{"shop", "api-0", "api", "/run/netns/x", 0xc6120102};
      inpod::PodSpec other{"plain", "web-0", "default", "/run/netns/y", 0xc6120103};
      return WorkloadsJson({api, other}, {api});
    };
    sources_.not_ready = [this]() -> std::optional<std::string> {
      if (ready_) return std::nullopt;
      return "no policy snapshot applied yet";
    };
    sources_.metrics_text = [] { return std::string("# TYPE ferry_up gauge\nferry_up 1\n"); };
    AgentAdminOptions options;
    options.debug_port = 0;  // bound explicitly below, on a free port
    options.metrics_port = 0;
    options.readiness_port = 0;
    auto debug = AdminServer::Start(AdminServerOptions{{kLoopback, 0}}, DebugRoutes(sources_));
    ASSERT_OK(debug);
    debug_ = std::move(debug).value();
  }
  void TearDown() override { spdlog::set_level(spdlog::level::info); }

  json GetJson(const std::string& target) { return json::parse(Body(Get(debug_->local_endpoint(), target))); }

  AgentAdminSources sources_;
  std::atomic<bool> ready_{false};
  std::unique_ptr<AdminServer> debug_;
};

TEST_F(AgentAdminTest, ConfigDumpCarriesVersionAckAndTheSnapshotAsJson) {
  json dump = GetJson("/config_dump");
  EXPECT_EQ(dump["version"], 7);
  EXPECT_EQ(dump["ack"]["state"], "acked");
  EXPECT_EQ(dump["snapshot"]["workloads"][0]["name"], "api-0");
  EXPECT_EQ(dump["snapshot"]["workloads"][0]["serviceAccount"], "api");
}

TEST_F(AgentAdminTest, WorkloadsSayWhichPodsAreEnrolled) {
  json workloads = GetJson("/workloads")["workloads"];
  ASSERT_EQ(workloads.size(), 2u);
  EXPECT_EQ(workloads[0]["name"], "api-0");
  EXPECT_EQ(workloads[0]["enrolled"], true);
  EXPECT_EQ(workloads[1]["name"], "web-0");
  EXPECT_EQ(workloads[1]["enrolled"], false);
}

TEST_F(AgentAdminTest, CertsShowIdentitiesAndNeverKeys) {
  std::string body = Body(Get(debug_->local_endpoint(), "/certs"));
  json certs = json::parse(body);
  EXPECT_EQ(certs["node"], "node-1");
  EXPECT_EQ(certs["certificates"][0]["spiffeId"], "spiffe://cluster.local/ns/shop/sa/api");
  EXPECT_EQ(certs["certificates"][0]["serial"], "0a1b");
  EXPECT_EQ(body.find("PRIVATE KEY"), std::string::npos);
}

TEST_F(AgentAdminTest, ConnectionsComeFromTheStatusAnswer) {
  json c = GetJson("/connections");
  EXPECT_EQ(c["connections"][0]["source"], "shop/frontend");
  EXPECT_EQ(c["connections"][0]["tlsMode"], "userspace");
  EXPECT_EQ(c["proxy"]["active"], 1);
}

TEST_F(AgentAdminTest, LoggingSetsAndReportsTheLevel) {
  EXPECT_EQ(GetJson("/logging?level=debug")["level"], "debug");
  EXPECT_EQ(spdlog::get_level(), spdlog::level::debug);
  EXPECT_EQ(GetJson("/logging")["level"], "debug");
  EXPECT_EQ(GetJson("/logging?level=warn")["level"], "warning");
  std::string bad = Get(debug_->local_endpoint(), "/logging?level=loud");
  EXPECT_EQ(StatusLine(bad), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(spdlog::get_level(), spdlog::level::warn);
}

TEST_F(AgentAdminTest, ReadinessFollowsTheAgent) {
  auto server = AdminServer::Start(AdminServerOptions{{kLoopback, 0}}, ReadinessRoutes(sources_));
  ASSERT_OK(server);
  std::string not_ready = Get((*server)->local_endpoint(), "/healthz/ready");
  EXPECT_EQ(StatusLine(not_ready), "HTTP/1.1 503 Service Unavailable");
  EXPECT_NE(Body(not_ready).find("no policy snapshot"), std::string::npos);
  ready_ = true;
  EXPECT_EQ(StatusLine(Get((*server)->local_endpoint(), "/healthz/ready")), "HTTP/1.1 200 OK");
}

TEST_F(AgentAdminTest, MetricsServeTheCallbacksText) {
  auto server = AdminServer::Start(AdminServerOptions{{kLoopback, 0}}, MetricsRoutes(sources_));
  ASSERT_OK(server);
  std::string response = Get((*server)->local_endpoint(), "/metrics");
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 200 OK");
  EXPECT_NE(response.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_EQ(Body(response), "# TYPE ferry_up gauge\nferry_up 1\n");
}

TEST_F(AgentAdminTest, AgentAdminStartsOnlyTheListenersAskedFor) {
  AgentAdminOptions options;
  options.debug_port = 0;
  options.metrics_port = 0;
  options.readiness_port = 0;
  auto admin = AgentAdmin::Start(options, sources_);
  ASSERT_OK(admin);
  EXPECT_EQ((*admin)->debug(), nullptr);
  EXPECT_EQ((*admin)->metrics(), nullptr);
  EXPECT_EQ((*admin)->readiness(), nullptr);
}

}  // namespace
}  // namespace ferry::admin
