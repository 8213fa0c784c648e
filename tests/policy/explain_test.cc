// `policy explain` over one snapshot: each branch of the data path gives the decision the proxy
// would take, and names the TrafficTarget and rule that took it.
#include "agent/policy/explain.h"

#include <gtest/gtest.h>

#include "tests/test_result.h"

namespace ferry::policy {
namespace {

constexpr uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return (a << 24) | (b << 16) | (c << 8) | d; }

// shop (in the mesh):
//   frontend 198.18.1.10 (sa frontend)     db 198.18.1.20 (sa db), Service db: 5432, 6379
//   web 198.18.2.30 (sa web), Service web: 80 -> 8080 (HTTPRouteGroup rules)
//   api-v1 198.18.1.40 (sa api-v1), api-v2 198.18.2.41 (sa api-v2); Service api (root), api-v1, api-v2: 80 -> 8080
//   cache-a 198.18.1.50 (sa cache), cache-b 198.18.2.51 (sa cache-admin), Service cache: 6379
// 198.18.2.99 is a pod outside the mesh.
class ExplainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Workload("frontend", "frontend", "198.18.1.10");
    Workload("db", "db", "198.18.1.20");
    Workload("web", "web", "198.18.2.30");
    Workload("api-v1", "api-v1", "198.18.1.40");
    Workload("api-v2", "api-v2", "198.18.2.41");
    Workload("cache-a", "cache", "198.18.1.50");
    Workload("cache-b", "cache-admin", "198.18.2.51");
    Service("db", "198.19.128.1", {"db"}, {{"postgres", 5432, 5432}, {"redis", 6379, 6379}});
    Service("web", "198.19.128.2", {"web"}, {{"http", 80, 8080}});
    Service("api", "198.19.128.3", {}, {{"api-port", 80, 8080}});
    Service("api-v1", "198.19.128.4", {"api-v1"}, {{"api-port", 80, 8080}});
    Service("api-v2", "198.19.128.5", {"api-v2"}, {{"api-port", 80, 8080}});
    Service("cache", "198.19.128.6", {"cache-a", "cache-b"}, {{"redis", 6379, 6379}});
    Service("empty", "198.19.128.7", {}, {{"tcp", 7000, 7000}});

    TcpTarget("db-access", "db", {5432});
    HttpTarget("web-access", "web", "/api/values", {"GET"});
    HttpTarget("api-v1-access", "api-v1", "/api/values", {"*"});
    TcpTarget("cache-access", "cache", {});
    v1::TrafficSplit* split = snapshot_.add_splits();
    split->set_namespace_("shop");
    split->set_name("api-split");
    split->set_root_service("api");
    auto backend = [&](const char* name, uint32_t weight) {
      auto* b = split->add_backends();
      b->set_service(name);
      b->set_weight(weight);
    };
    backend("api-v1", 90);
    backend("api-v2", 10);
    snapshot_.set_version(7);
  }

  void Workload(const std::string& name, const std::string& sa, const std::string& ip) {
    v1::Workload* w = snapshot_.add_workloads();
    w->set_uid(name);
    w->set_name(name);
    w->set_namespace_("shop");
    w->set_service_account(sa);
    w->set_ip(ip);
  }
  struct Port {
    std::string name;
    uint32_t port, target;
  };
  void Service(const std::string& name, const std::string& vip, std::vector<std::string> uids, std::vector<Port> ports) {
    v1::Service* svc = snapshot_.add_services();
    svc->set_namespace_("shop");
    svc->set_name(name);
    svc->set_vip(vip);
    for (const auto& uid : uids) svc->add_endpoint_uids(uid);
    for (const auto& p : ports) {
      auto* sp = svc->add_ports();
      sp->set_name(p.name);
      sp->set_port(p.port);
      sp->set_target_port(p.target);
      sp->set_protocol("TCP");
    }
  }
  v1::Authorization* Target(const std::string& name, const std::string& dst_sa) {
    v1::Authorization* a = snapshot_.add_authorizations();
    a->set_namespace_("shop");
    a->set_name(name);
    a->mutable_destination()->set_namespace_("shop");
    a->mutable_destination()->set_name(dst_sa);
    auto* src = a->add_sources();
    src->set_namespace_("shop");
    src->set_name("frontend");
    return a;
  }
  void TcpTarget(const std::string& name, const std::string& dst_sa, std::vector<uint32_t> ports) {
    auto* rule = Target(name, dst_sa)->add_rules();
    rule->set_route_kind("TCPRoute");
    rule->set_route_name(dst_sa + "-ports");
    rule->mutable_tcp();
    for (uint32_t p : ports) rule->mutable_tcp()->add_ports(p);
  }
  void HttpTarget(const std::string& name, const std::string& dst_sa, const std::string& path,
                  std::vector<std::string> methods) {
    auto* rule = Target(name, dst_sa)->add_rules();
    rule->set_route_kind("HTTPRouteGroup");
    rule->set_route_name(dst_sa + "-routes");
    auto* match = rule->mutable_http()->add_matches();
    match->set_name("values");
    match->set_path_regex(path);
    for (const auto& m : methods) match->add_methods(m);
  }

  Explanation Run(const ExplainQuery& query) {
    PolicyEvaluator evaluator(snapshot_);
    auto answer = Explain(evaluator, query);
    EXPECT_OK(answer);
    return answer.ok() ? *answer : Explanation{};
  }
  Result<Explanation> TryRun(const ExplainQuery& query) {
    PolicyEvaluator evaluator(snapshot_);
    return Explain(evaluator, query);
  }
  static ExplainQuery FromFrontend() {
    ExplainQuery q;
    q.source_ip = Ip(198, 18, 1, 10);
    return q;
  }
  static ExplainQuery ToPod(uint32_t ip, uint32_t port) {
    ExplainQuery q = FromFrontend();
    q.destination_ip = ip;
    q.port = port;
    return q;
  }
  static ExplainQuery ToService(const std::string& name, uint32_t port = 0, std::string method = "",
                                std::string path = "") {
    ExplainQuery q = FromFrontend();
    q.service_ns = "shop";
    q.service_name = name;
    q.port = port;
    q.method = std::move(method);
    q.path = std::move(path);
    return q;
  }

  v1::PolicySnapshot snapshot_;
};

TEST_F(ExplainTest, NoTrafficTargetDeniesAndNamesNone) {
  auto e = Run(ToPod(Ip(198, 18, 1, 10), 9000));  // frontend -> frontend: nothing lets it in
  EXPECT_EQ(e.decision, Decision::kDeny);
  EXPECT_NE(e.reason.find("no TrafficTarget"), std::string::npos) << e.reason;
  EXPECT_EQ(e.traffic_target, "");
  EXPECT_EQ(e.source_identity, "shop/frontend");
  EXPECT_EQ(e.policy_version, 7u);
}

TEST_F(ExplainTest, TcpRoutePortAllowedNamesTrafficTargetAndRule) {
  auto e = Run(ToPod(Ip(198, 18, 1, 20), 5432));
  EXPECT_EQ(e.decision, Decision::kAllow);
  EXPECT_EQ(e.traffic_target, "shop/db-access");
  EXPECT_EQ(e.rule, "TCPRoute db-ports");
  ASSERT_EQ(e.verdicts.size(), 1u);
  EXPECT_EQ(e.verdicts[0].branch, Branch::kPolicy);
  EXPECT_EQ(e.verdicts[0].identity, "shop/db");
}

TEST_F(ExplainTest, TcpRouteOtherPortDeniedByTheClosestTarget) {
  auto e = Run(ToPod(Ip(198, 18, 1, 20), 6379));
  EXPECT_EQ(e.decision, Decision::kDeny);
  EXPECT_EQ(e.traffic_target, "shop/db-access");
  EXPECT_NE(e.reason.find("port 6379 is not in"), std::string::npos) << e.reason;
}

TEST_F(ExplainTest, AnotherSourceIsNotListed) {
  ExplainQuery q = ToPod(Ip(198, 18, 1, 20), 5432);
  q.source_ip.reset();
  q.source_identity = Identity{"shop", "web"};
  auto e = Run(q);
  EXPECT_EQ(e.decision, Decision::kDeny);
  EXPECT_NE(e.reason.find("lists source shop/web"), std::string::npos) << e.reason;
}

TEST_F(ExplainTest, ServicePortResolvesToTheEndpointsTargetPort) {
  auto e = Run(ToService("db", 5432));
  EXPECT_EQ(e.decision, Decision::kAllow);
  EXPECT_EQ(e.destination, "service shop/db:5432");
  ASSERT_EQ(e.verdicts.size(), 1u);
  EXPECT_EQ(e.verdicts[0].endpoints, std::vector<std::string>{"198.18.1.20:5432"});
  EXPECT_EQ(Run(ToService("db", 6379)).decision, Decision::kDeny);
}

TEST_F(ExplainTest, SinglePortServiceNeedsNoPortButSeveralPortsAreListed) {
  auto e = Run(ToService("web", 0, "GET", "/api/values"));
  EXPECT_EQ(e.destination, "service shop/web:80");
  auto several = TryRun(ToService("db"));
  ASSERT_FALSE(several.ok());
  EXPECT_NE(several.error().Message().find("5432 (postgres), 6379 (redis)"), std::string::npos)
      << several.error().Message();
}

TEST_F(ExplainTest, UnknownServiceIsAnError) {
  auto r = TryRun(ToService("nope", 80));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().Message().find("no service shop/nope"), std::string::npos);
}

TEST_F(ExplainTest, ServicePortThatDoesNotExistDeniesAndListsThePorts) {
  auto e = Run(ToService("db", 9999));
  EXPECT_EQ(e.decision, Decision::kDeny);
  ASSERT_EQ(e.verdicts.size(), 1u);
  EXPECT_EQ(e.verdicts[0].branch, Branch::kNoEndpoints);
  EXPECT_NE(e.reason.find("has no port 9999 (its ports: 5432 (postgres), 6379 (redis))"), std::string::npos) << e.reason;
}

TEST_F(ExplainTest, ServiceWithoutEndpointsDenies) {
  auto e = Run(ToService("empty", 7000));
  EXPECT_EQ(e.decision, Decision::kDeny);
  EXPECT_NE(e.reason.find("no ready endpoint"), std::string::npos);
}

TEST_F(ExplainTest, HttpRulesWithoutARequestNeedOne) {
  auto e = Run(ToService("web", 80));
  EXPECT_EQ(e.decision, Decision::kNeedsRequest);
  EXPECT_TRUE(e.http_declared);
  EXPECT_EQ(e.reason.rfind("HTTP rules apply to shop/web:8080", 0), 0u) << e.reason;
  EXPECT_EQ(e.traffic_target, "shop/web-access");
}

TEST_F(ExplainTest, HttpRequestAllowedNamesTheRouteMatch) {
  auto e = Run(ToService("web", 80, "GET", "/api/values"));
  EXPECT_EQ(e.decision, Decision::kAllow);
  EXPECT_EQ(e.traffic_target, "shop/web-access");
  EXPECT_EQ(e.rule, "HTTPRouteGroup shop/web-routes match values");
  EXPECT_EQ(e.verdicts[0].branch, Branch::kHttpPolicy);
  EXPECT_EQ(e.verdicts[0].port, 8080u);
}

TEST_F(ExplainTest, HttpPathAndMethodDenied) {
  auto path = Run(ToService("web", 80, "GET", "/admin"));
  EXPECT_EQ(path.decision, Decision::kDeny);
  EXPECT_EQ(path.traffic_target, "shop/web-access");
  EXPECT_NE(path.reason.find("GET /admin matches no HTTPRouteGroup rule"), std::string::npos) << path.reason;
  auto method = Run(ToService("web", 80, "POST", "/api/values"));
  EXPECT_EQ(method.decision, Decision::kDeny);
  EXPECT_NE(method.reason.find("POST"), std::string::npos) << method.reason;
}

TEST_F(ExplainTest, PathIsNormalisedAsTheProxyDoes) {
  EXPECT_EQ(Run(ToService("web", 80, "GET", "//api/./values?x=1")).decision, Decision::kAllow);
  EXPECT_EQ(Run(ToService("web", 80, "GET", "/api/values/%2e%2e/admin")).decision, Decision::kDeny);
  auto climbing = Run(ToService("web", 80, "GET", "/../etc"));
  EXPECT_EQ(climbing.decision, Decision::kDeny);
  EXPECT_EQ(climbing.verdicts[0].branch, Branch::kBadRequest);
  EXPECT_EQ(Run(ToService("web", 80, "CONNECT", "/")).verdicts[0].branch, Branch::kBadRequest);
}

TEST_F(ExplainTest, HeadersTakePartInTheMatch) {
  auto* match = snapshot_.mutable_authorizations(1)->mutable_rules(0)->mutable_http()->mutable_matches(0);
  (*match->mutable_headers())["x-user"] = "alice|bob";
  auto q = ToService("web", 80, "GET", "/api/values");
  EXPECT_EQ(Run(q).decision, Decision::kDeny);
  q.headers.push_back({"X-User", "alice"});
  EXPECT_EQ(Run(q).decision, Decision::kAllow);
}

TEST_F(ExplainTest, SplitRootAnswersPerBackendWithItsWeight) {
  auto e = Run(ToService("api", 80, "GET", "/api/values"));
  EXPECT_EQ(e.split, "shop/api-split");
  ASSERT_EQ(e.verdicts.size(), 2u);
  EXPECT_EQ(e.verdicts[0].backend, "api-v1");
  EXPECT_EQ(e.verdicts[0].weight, 90u);
  EXPECT_EQ(e.verdicts[0].decision, Decision::kAllow);
  EXPECT_EQ(e.verdicts[0].traffic_target, "shop/api-v1-access");
  EXPECT_EQ(e.verdicts[1].backend, "api-v2");
  EXPECT_EQ(e.verdicts[1].weight, 10u);
  EXPECT_EQ(e.verdicts[1].decision, Decision::kDeny);  // no TrafficTarget for api-v2
  EXPECT_EQ(e.decision, Decision::kMixed);

  // A backend that gets no traffic does not count; the others decide alone.
  snapshot_.mutable_splits(0)->mutable_backends(1)->set_weight(0);
  auto v1_only = Run(ToService("api", 80, "GET", "/api/values"));
  EXPECT_EQ(v1_only.decision, Decision::kAllow);
  EXPECT_EQ(v1_only.traffic_target, "shop/api-v1-access");
  EXPECT_EQ(Run(ToService("api", 80, "GET", "/admin")).decision, Decision::kDeny);
}

TEST_F(ExplainTest, SplitBackendWithoutThePortDenies) {
  snapshot_.mutable_splits(0)->mutable_backends(1)->set_service("missing");
  auto e = Run(ToService("api", 80, "GET", "/api/values"));
  ASSERT_EQ(e.verdicts.size(), 2u);
  EXPECT_EQ(e.verdicts[1].branch, Branch::kNoEndpoints);
  EXPECT_EQ(e.verdicts[1].decision, Decision::kDeny);
}

TEST_F(ExplainTest, EndpointsWithDifferentServiceAccountsGetOneVerdictEach) {
  auto e = Run(ToService("cache", 6379));
  ASSERT_EQ(e.verdicts.size(), 2u);
  EXPECT_EQ(e.verdicts[0].identity, "shop/cache");
  EXPECT_EQ(e.verdicts[0].decision, Decision::kAllow);
  EXPECT_EQ(e.verdicts[1].identity, "shop/cache-admin");
  EXPECT_EQ(e.verdicts[1].decision, Decision::kDeny);
  EXPECT_EQ(e.decision, Decision::kMixed);
}

TEST_F(ExplainTest, NonMeshDestinationIsEgressPassThroughUnlessEgressIsDenied) {
  auto e = Run(ToPod(Ip(198, 18, 2, 99), 8080));
  EXPECT_EQ(e.decision, Decision::kAllow);
  EXPECT_EQ(e.verdicts[0].branch, Branch::kEgress);
  EXPECT_EQ(e.traffic_target, "");
  snapshot_.mutable_mesh()->set_deny_egress(true);
  EXPECT_EQ(Run(ToPod(Ip(198, 18, 2, 99), 8080)).decision, Decision::kDeny);
}

TEST_F(ExplainTest, ReservedAgentPortsAreDenied) {
  auto e = Run(ToPod(Ip(198, 18, 1, 20), 15000));
  EXPECT_EQ(e.decision, Decision::kDeny);
  EXPECT_EQ(e.verdicts[0].branch, Branch::kReservedPort);
}

TEST_F(ExplainTest, SourceOutsideTheMeshIsPlaintextAtAMeshDestination) {
  ExplainQuery q = ToPod(Ip(198, 18, 1, 20), 5432);
  q.source_ip = Ip(198, 18, 2, 99);
  auto e = Run(q);
  EXPECT_FALSE(e.source_in_mesh);
  EXPECT_EQ(e.decision, Decision::kDeny);
  EXPECT_EQ(e.verdicts[0].branch, Branch::kInboundPlaintext);
  EXPECT_NE(e.reason.find("unauthenticated"), std::string::npos);

  snapshot_.mutable_mesh()->add_inbound_exempt_ips("198.18.2.99");
  EXPECT_EQ(Run(q).decision, Decision::kAllow);
  snapshot_.mutable_mesh()->clear_inbound_exempt_ips();
  snapshot_.mutable_mesh()->set_permissive(true);
  EXPECT_EQ(Run(q).decision, Decision::kAllow);

  // Neither end in the mesh: Ferry is not involved.
  q.destination_ip = Ip(198, 18, 2, 98);
  auto outside = Run(q);
  EXPECT_EQ(outside.decision, Decision::kAllow);
  EXPECT_EQ(outside.verdicts[0].branch, Branch::kPassThrough);
}

TEST_F(ExplainTest, SourceOutsideTheMeshIsNotSplit) {
  ExplainQuery q = ToService("api-v1", 80);
  q.source_ip = Ip(198, 18, 2, 99);
  auto e = Run(q);
  EXPECT_EQ(e.decision, Decision::kDeny);
  EXPECT_EQ(e.verdicts[0].branch, Branch::kInboundPlaintext);
}

TEST_F(ExplainTest, QueryWithoutSourceOrDestinationIsAnError) {
  ExplainQuery q;
  q.destination_ip = Ip(198, 18, 1, 20);
  q.port = 5432;
  EXPECT_ERR(TryRun(q));
  EXPECT_ERR(TryRun(FromFrontend()));
}

TEST(ExplainQueryParse, ReadsEveryParameter) {
  auto q = ParseExplainQuery({{"src", "198.18.1.10"}, {"dst", "shop/web"}, {"port", "80"}, {"method", "POST"},
                              {"path", "/api/values"}, {"header.x-user", "alice"}});
  ASSERT_OK(q);
  EXPECT_EQ(q->source_ip, Ip(198, 18, 1, 10));
  EXPECT_EQ(q->service_ns, "shop");
  EXPECT_EQ(q->service_name, "web");
  EXPECT_EQ(q->port, 80u);
  EXPECT_EQ(q->method, "POST");
  ASSERT_EQ(q->headers.size(), 1u);
  EXPECT_EQ(q->headers[0].name, "x-user");
  EXPECT_EQ(q->headers[0].value, "alice");
}

TEST(ExplainQueryParse, IdentitiesAddressesAndDefaults) {
  auto spiffe = ParseExplainQuery({{"src", "spiffe://cluster.local/ns/shop/sa/frontend"}, {"dst", "198.18.1.20:5432"}});
  ASSERT_OK(spiffe);
  ASSERT_TRUE(spiffe->source_identity.has_value());
  EXPECT_EQ(spiffe->source_identity->ToString(), "shop/frontend");
  EXPECT_EQ(spiffe->destination_ip, Ip(198, 18, 1, 20));
  EXPECT_EQ(spiffe->port, 5432u);
  auto path_only = ParseExplainQuery({{"src", "shop/frontend"}, {"dst", "shop/web:80"}, {"path", "/x"}});
  ASSERT_OK(path_only);
  EXPECT_EQ(path_only->method, "GET");
}

TEST(ExplainQueryParse, BadQueriesSayWhatIsWrong) {
  auto message = [](std::map<std::string, std::string> params) {
    auto q = ParseExplainQuery(params);
    return q.ok() ? std::string("(accepted)") : q.error().Message();
  };
  EXPECT_NE(message({{"dst", "shop/web"}}).find("src is required"), std::string::npos);
  EXPECT_NE(message({{"src", "shop/frontend"}}).find("dst is required"), std::string::npos);
  EXPECT_NE(message({{"src", "x"}, {"dst", "shop/web"}}).find("src \"x\""), std::string::npos);
  EXPECT_NE(message({{"src", "shop/a"}, {"dst", "shop/web"}, {"port", "70000"}}).find("not a port"), std::string::npos);
  EXPECT_NE(message({{"src", "shop/a"}, {"dst", "198.18.1.1"}}).find("give port"), std::string::npos);
  EXPECT_NE(message({{"src", "shop/a"}, {"dst", "shop/web"}, {"method", "GET"}}).find("needs a path"),
            std::string::npos);
  EXPECT_NE(message({{"src", "shop/a"}, {"dst", "shop/web"}, {"bogus", "1"}}).find("unknown parameter \"bogus\""),
            std::string::npos);
}

TEST_F(ExplainTest, JsonNamesDecisionTargetRuleAndVerdicts) {
  auto j = ExplanationToJson(Run(ToService("api", 80, "GET", "/api/values")));
  EXPECT_EQ(j["decision"], "mixed");
  EXPECT_EQ(j["destination"]["trafficSplit"], "shop/api-split");
  EXPECT_EQ(j["request"]["path"], "/api/values");
  ASSERT_EQ(j["verdicts"].size(), 2u);
  EXPECT_EQ(j["verdicts"][0]["backend"], "api-v1");
  EXPECT_EQ(j["verdicts"][0]["weight"], 90);
  EXPECT_EQ(j["verdicts"][0]["trafficTarget"], "shop/api-v1-access");
  EXPECT_EQ(j["verdicts"][0]["rule"], "HTTPRouteGroup shop/api-v1-routes match values");
  EXPECT_EQ(j["source"]["identity"], "shop/frontend");
}

}  // namespace
}  // namespace ferry::policy
