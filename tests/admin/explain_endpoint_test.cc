// /explain on the debug endpoint, wired as the agent wires it: the query string parsed, the
// current policy asked, the answer (or a 400 that says what is wrong with the query) sent back.
#include <gtest/gtest.h>

#include "admin_test_client.h"
#include "agent/admin/agent_admin.h"
#include "agent/policy/explain.h"
#include "policy/snapshot_builders.h"
#include "test_result.h"

namespace ferry::admin {
namespace {

using namespace ferry::admin::testing;
using nlohmann::json;

// shop/frontend (198.18.1.10) may reach shop/db (198.18.1.20) on 5432 only.
v1::PolicySnapshot Snapshot() {
  v1::PolicySnapshot s;
  s.set_version(3);
  for (auto [name, ip] : {std::pair{"frontend", "198.18.1.10"}, std::pair{"db", "198.18.1.20"}}) {
    auto* w = s.add_workloads();
    w->set_uid(name);
    w->set_name(name);
    w->set_namespace_("shop");
    w->set_service_account(name);
    w->set_ip(ip);
  }
  auto* svc = s.add_services();
  svc->set_namespace_("shop");
  svc->set_name("db");
  svc->set_vip("198.19.128.1");
  svc->add_endpoint_uids("db");
  auto* port = svc->add_ports();
  port->set_name("postgres");
  port->set_port(5432);
  port->set_target_port(5432);
  auto* rule = ferry::test_snapshots::AddAuthorization(s, "shop", "db-access", "db", "frontend", "TCPRoute", "db-ports");
  rule->mutable_tcp()->add_ports(5432);
  return s;
}

class ExplainEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sources_.explain = [this](const std::map<std::string, std::string>& params) -> Result<json> {
      auto query = policy::ParseExplainQuery(params);
      if (!query.ok()) return query.error();
      auto answer = policy::Explain(evaluator_, *query);
      if (!answer.ok()) return answer.error();
      json out = policy::ExplanationToJson(*answer);
      out["node"] = "node-1";
      return out;
    };
    auto debug = AdminServer::Start(AdminServerOptions{{kLoopback, 0}}, DebugRoutes(sources_));
    ASSERT_OK(debug);
    debug_ = std::move(debug).value();
  }

  std::string Fetch(const std::string& target) { return Get(debug_->local_endpoint(), target); }

  policy::PolicyEvaluator evaluator_{Snapshot()};
  AgentAdminSources sources_;
  std::unique_ptr<AdminServer> debug_;
};

TEST_F(ExplainEndpointTest, AllowNamesTrafficTargetAndRuleAsJson) {
  auto response = Fetch("/explain?src=198.18.1.10&dst=shop/db&port=5432");
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 200 OK");
  auto answer = json::parse(Body(response));
  EXPECT_EQ(answer["decision"], "allow");
  EXPECT_EQ(answer["trafficTarget"], "shop/db-access");
  EXPECT_EQ(answer["rule"], "TCPRoute db-ports");
  EXPECT_EQ(answer["node"], "node-1");
  EXPECT_EQ(answer["policyVersion"], 3);
}

TEST_F(ExplainEndpointTest, DenySaysWhy) {
  auto answer = json::parse(Body(Fetch("/explain?src=shop%2Ffrontend&dst=198.18.1.20:6379")));
  EXPECT_EQ(answer["decision"], "deny");
  EXPECT_NE(answer["reason"].get<std::string>().find("port 6379 is not in"), std::string::npos) << answer.dump();
}

TEST_F(ExplainEndpointTest, BadQueryIsA400WithTheReason) {
  auto missing = Fetch("/explain?dst=shop/db");
  EXPECT_EQ(StatusLine(missing), "HTTP/1.1 400 Bad Request");
  EXPECT_NE(json::parse(Body(missing))["error"].get<std::string>().find("src is required"), std::string::npos);
  auto unknown = Fetch("/explain?src=198.18.1.10&dst=shop/nope&port=1");
  EXPECT_EQ(StatusLine(unknown), "HTTP/1.1 400 Bad Request");
  EXPECT_NE(json::parse(Body(unknown))["error"].get<std::string>().find("no service shop/nope"), std::string::npos);
}

TEST_F(ExplainEndpointTest, IndexListsExplain) {
  auto index = json::parse(Body(Fetch("/")));
  EXPECT_NE(index["endpoints"].dump().find("/explain"), std::string::npos) << index.dump();
}

TEST(ExplainEndpointAbsent, WithoutASourceThereIsNoExplainRoute) {
  AgentAdminSources sources;
  auto routes = DebugRoutes(sources);
  EXPECT_EQ(routes.count("/explain"), 0u);
  EXPECT_EQ(ExplainEndpoint(sources, AdminRequest{"/explain", {}}).status, 404);
}

}  // namespace
}  // namespace ferry::admin
