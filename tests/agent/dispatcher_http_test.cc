// The dispatcher's HTTP decisions: which connections get an L7 session (TrafficSplit roots,
// destinations with only HTTPRouteGroup rules, the same behind the tunnel), what the routers
// decide per request, and what relays the upstream openers plan.
#include <map>
#include <string>

#include "agent/dispatch/http_routes.h"
#include "canary_snapshot.h"
#include "dispatcher_fixture.h"

namespace ferry::dispatch {
namespace {

constexpr uint32_t kRemoteV2Ip = 0xC6120205;  // 198.18.2.5, a mesh pod on another node
constexpr uint32_t kRootVip = 0xC613800A;     // 198.19.128.10
const std::string kLocalV1 = "198.18.1.3:8080";
const std::string kRemoteV2 = "198.18.2.5:8080";

using test_snapshots::CanarySnapshot;
using test_snapshots::Request;

class DispatcherHttpTest : public DispatcherTest {
 protected:
  void SetUp() override {
    DispatcherTest::SetUp();
    policy_.Apply(CanarySnapshot(90, 10));
  }
  SplitRouter MakeSplitRouter() {
    return SplitRouter(policy_, pods_, pickers_, {"app", "frontend"}, "app", "api", 80);
  }
  SplitPickers pickers_;
};

TEST_F(DispatcherHttpTest, ConnectionToASplitRootGetsAnHttpSessionEvenWithoutEndpoints) {
  auto decision = Outbound({kRootVip, 80});
  auto* plan = std::get_if<proxy::L7Plan>(&decision);
  ASSERT_NE(plan, nullptr) << DenyReasonOf(decision);
  EXPECT_NE(plan->session, nullptr);
  EXPECT_NE(plan->opener, nullptr);
  EXPECT_EQ(plan->info->kind, kKindHttp);
  EXPECT_EQ(plan->info->destination, "app/api");
  EXPECT_EQ(dispatcher_.counters().http_split.load(), 1u);
}

TEST_F(DispatcherHttpTest, DestinationWithOnlyHttpRulesGetsAnHttpSessionAndWithTcpRulesAPlainRelay) {
  auto decision = Outbound({kApiIp, 8080});
  auto* plan = std::get_if<proxy::L7Plan>(&decision);
  ASSERT_NE(plan, nullptr) << DenyReasonOf(decision);
  EXPECT_EQ(plan->info->kind, kKindHttp);
  EXPECT_EQ(dispatcher_.counters().http_enforced.load(), 1u);
  policy_.Apply(AllowFrontendToApi({8080}));
  auto plain = Outbound({kApiIp, 8080}, 40001);
  EXPECT_NE(std::get_if<proxy::ForwardPlan>(&plain), nullptr) << DenyReasonOf(plain);
}

TEST_F(DispatcherHttpTest, SplitRouterSpreadsRequestsByWeightAndKeepsTheShareAcrossConnections) {
  std::map<std::string, int> keys;
  for (int connection = 0; connection < 10; ++connection) {
    SplitRouter router = MakeSplitRouter();  // a new client connection each time
    for (int i = 0; i < 10; ++i) {
      auto verdict = router.RouteRequest(Request("GET", "/api/values"), "/api/values");
      ASSERT_TRUE(verdict.forward) << verdict.reason;
      ++keys[verdict.upstream_key];
    }
  }
  EXPECT_EQ(keys[kLocalV1], 90);
  EXPECT_EQ(keys[kRemoteV2], 10);
}

TEST_F(DispatcherHttpTest, SplitRouterChecksBackendsOnThisNodePerRequestAndLeavesOthersToTheirAgent) {
  policy_.Apply(CanarySnapshot(100, 0));
  SplitRouter router = MakeSplitRouter();
  auto allowed = router.RouteRequest(Request("GET", "/api/values"), "/api/values");
  EXPECT_TRUE(allowed.forward);
  EXPECT_EQ(allowed.upstream_key, kLocalV1);
  auto admin = router.RouteRequest(Request("GET", "/admin"), "/admin");
  EXPECT_FALSE(admin.forward);
  EXPECT_EQ(admin.status, 403);
  EXPECT_FALSE(admin.reason.empty());
  auto post = router.RouteRequest(Request("POST", "/api/values"), "/api/values");
  EXPECT_FALSE(post.forward);
  // All to v2 (another node): forwarded, its agent enforces the rules.
  policy_.Apply(CanarySnapshot(0, 100));
  auto remote = router.RouteRequest(Request("GET", "/admin"), "/admin");
  EXPECT_TRUE(remote.forward);
  EXPECT_EQ(remote.upstream_key, kRemoteV2);
  // A stream (not HTTP) to a local backend with HTTP rules cannot be checked: refused.
  policy_.Apply(CanarySnapshot(100, 0));
  EXPECT_FALSE(router.RouteStream(http::ProtocolGuess::kOther).forward);
}

TEST_F(DispatcherHttpTest, RootDeclaredTcpIsSplitPerConnectionWithoutASession) {
  v1::PolicySnapshot s = CanarySnapshot(90, 10);
  for (auto& svc : *s.mutable_services())
    if (svc.name() == "api") svc.mutable_ports(0)->set_app_protocol("tcp");
  auto* tcp = s.mutable_authorizations(0)->add_rules();
  tcp->set_route_kind("TCPRoute");
  tcp->mutable_tcp()->add_ports(8080);
  policy_.Apply(s);
  std::map<std::string, int> targets;
  for (uint16_t i = 0; i < 10; ++i) {
    auto decision = Outbound({kRootVip, 80}, static_cast<uint16_t>(41000 + i));
    auto* plan = std::get_if<proxy::ForwardPlan>(&decision);
    ASSERT_NE(plan, nullptr) << DenyReasonOf(decision);
    ++targets[plan->target.ToString()];
  }
  EXPECT_EQ(targets[kLocalV1], 9);
  EXPECT_EQ(targets[kRemoteV2], 1);
  EXPECT_EQ(dispatcher_.counters().http_split.load(), 0u);
}

TEST_F(DispatcherHttpTest, SplitWithoutBackendsOrEndpointsAnswers503) {
  policy_.Apply(CanarySnapshot(0, 0));  // a split with no weight left
  SplitRouter router = MakeSplitRouter();
  auto verdict = router.RouteRequest(Request("GET", "/api/values"), "/api/values");
  EXPECT_FALSE(verdict.forward);
  EXPECT_EQ(verdict.status, 503);
}

TEST_F(DispatcherHttpTest, DestinationRouterDecidesEachRequestWithThePolicyOfItsMoment) {
  DestinationRouter router(policy_, {"app", "frontend"}, {"app", "api"}, 8080, kLocalV1);
  auto ok = router.RouteRequest(Request("GET", "/api/values"), "/api/values");
  EXPECT_TRUE(ok.forward);
  EXPECT_EQ(ok.upstream_key, kLocalV1);
  auto admin = router.RouteRequest(Request("GET", "/admin"), "/admin");
  EXPECT_FALSE(admin.forward);
  EXPECT_EQ(admin.status, 403);
  EXPECT_FALSE(router.RouteStream(http::ProtocolGuess::kHttp2).forward);
  policy_.Apply(v1::PolicySnapshot{});  // the TrafficTarget is gone
  EXPECT_FALSE(router.RouteRequest(Request("GET", "/api/values"), "/api/values").forward);
}

TEST_F(DispatcherHttpTest, UpstreamOpenersPlanRelaysInTheRightNetns) {
  auto into = dispatcher_.OpenUpstream(UpstreamSide::kIntoDestination, "app/api", kLocalV1);
  auto* plan = std::get_if<proxy::ForwardPlan>(&into);
  ASSERT_NE(plan, nullptr) << DenyReasonOf(into);
  EXPECT_EQ(plan->target.ToString(), kLocalV1);
  EXPECT_EQ(sockets_.created_in.back(), "app/api");
  EXPECT_EQ(plan->info->kind, kKindHttpUpstream);
  // Only the destination pod's own address.
  EXPECT_TRUE(std::holds_alternative<proxy::DenyPlan>(
      dispatcher_.OpenUpstream(UpstreamSide::kIntoDestination, "app/api", "198.18.1.2:8080")));
  auto from = dispatcher_.OpenUpstream(UpstreamSide::kFromSource, "app/frontend", kLocalV1);
  ASSERT_NE(std::get_if<proxy::ForwardPlan>(&from), nullptr) << DenyReasonOf(from);
  EXPECT_EQ(sockets_.created_in.back(), "app/api");  // delivered inside the destination pod
  EXPECT_TRUE(std::holds_alternative<proxy::DenyPlan>(
      dispatcher_.OpenUpstream(UpstreamSide::kFromSource, "app/gone", kLocalV1)));
}

TEST_F(DispatcherHttpTest, PolicyChangesDoNotAbortHttpConnections) {
  proxy::ConnectionInfo info;
  info.kind = kKindHttp;
  info.source = "app/frontend";
  info.destination = "app/api";
  info.destination_port = 8080;
  policy_.Apply(v1::PolicySnapshot{});
  EXPECT_FALSE(dispatcher_.NoLongerAllowed(info));  // each request is checked on its own
  info.source = "app/gone";
  info.destination = "app/gone-too";
  EXPECT_TRUE(dispatcher_.NoLongerAllowed(info));
}

}  // namespace
}  // namespace ferry::dispatch
