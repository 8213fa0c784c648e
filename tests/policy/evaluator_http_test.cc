// Per-request HTTPRouteGroup evaluation, table-driven over one policy written as SMI manifests
// (plus two hand-made authorizations with invalid regexes, which the controller never emits).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "agent/policy/evaluator.h"
#include "controlplane/smi/compile.h"
#include "controlplane/smi/parse.h"

namespace ferry::policy {
namespace {

constexpr const char* kPolicy = R"(
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: api-routes, namespace: shop}
spec:
  matches:
  - {name: values, pathRegex: /api/values, methods: [GET]}
  - {name: admin, pathRegex: "/admin/.*", methods: ["*"], headers: {x-role: admin, x-tenant: "t[0-9]+"}}
  - {name: health, pathRegex: /healthz, methods: ["*"]}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: beta-routes, namespace: shop}
spec:
  matches:
  - {name: beta-header, headers: {x-beta: "yes"}}
  - {name: canary-cookie, headers: {cookie: ".*canary=1.*"}}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: write-routes, namespace: shop}
spec:
  matches: [{name: write, pathRegex: /api/values, methods: [POST, PUT]}]
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: ops-port, namespace: shop}
spec: {matches: {ports: [9090]}}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: db-port, namespace: shop}
spec: {matches: {ports: [5432]}}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: api-web, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: api}
  rules: [{kind: HTTPRouteGroup, name: api-routes}]
  sources: [{kind: ServiceAccount, name: frontend}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: api-beta, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: api}
  rules: [{kind: HTTPRouteGroup, name: beta-routes}]
  sources: [{kind: ServiceAccount, name: tester}]
---
apiVersion: access.smi-spec.io/v1alpha2
kind: TrafficTarget
metadata: {name: api-writer, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: api, port: 8080}
  rules: [{kind: HTTPRouteGroup, name: write-routes}]
  sources: [{kind: ServiceAccount, name: writer}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: api-ops, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: api}
  rules: [{kind: TCPRoute, name: ops-port}, {kind: HTTPRouteGroup, name: api-routes}]
  sources: [{kind: ServiceAccount, name: ops}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: db-access, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: db}
  rules: [{kind: TCPRoute, name: db-port}]
  sources: [{kind: ServiceAccount, name: ops}]
---
apiVersion: access.smi-spec.io/v1alpha2
kind: TrafficTarget
metadata: {name: reports-writer, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: reports, port: 8080}
  rules: [{kind: HTTPRouteGroup, name: write-routes}]
  sources: [{kind: ServiceAccount, name: writer}]
)";

v1::HttpMatch* AddMatch(v1::AuthorizationRule* rule, const std::string& name, const std::string& path_regex) {
  v1::HttpMatch* m = rule->mutable_http()->add_matches();
  m->set_name(name);
  m->set_path_regex(path_regex);
  return m;
}

v1::Authorization* AddHandMadeAuthorization(v1::PolicySnapshot& snapshot, const std::string& name,
                                            const std::string& destination) {
  v1::Authorization* auth = snapshot.add_authorizations();
  auth->set_namespace_("shop");
  auth->set_name(name);
  auth->mutable_destination()->set_namespace_("shop");
  auth->mutable_destination()->set_name(destination);
  v1::ServiceAccountRef* src = auth->add_sources();
  src->set_namespace_("shop");
  src->set_name("frontend");
  return auth;
}

// shop/broken -> shop/legacy: rule "half-bad" has a valid match (/ok) and an invalid one, rule
// "good" allows /fine. shop/fragile -> shop/fragile: its only rule has an invalid header regex.
void AddInvalidRegexAuthorizations(v1::PolicySnapshot& snapshot) {
  v1::Authorization* broken = AddHandMadeAuthorization(snapshot, "broken", "legacy");
  v1::AuthorizationRule* half_bad = broken->add_rules();
  half_bad->set_route_kind("HTTPRouteGroup");
  half_bad->set_route_name("half-bad");
  AddMatch(half_bad, "ok", "/ok");
  AddMatch(half_bad, "bad", "/bad(");
  v1::AuthorizationRule* good = broken->add_rules();
  good->set_route_kind("HTTPRouteGroup");
  good->set_route_name("good");
  AddMatch(good, "fine", "/fine");

  v1::Authorization* fragile = AddHandMadeAuthorization(snapshot, "fragile", "fragile");
  v1::AuthorizationRule* rule = fragile->add_rules();
  rule->set_route_kind("HTTPRouteGroup");
  rule->set_route_name("bad-header");
  (*AddMatch(rule, "any", ".*")->mutable_headers())["x-id"] = "[unclosed";
}

struct Row {
  std::string label;
  Identity src;
  Identity dst;
  uint16_t port;
  std::string method;
  std::string path;
  std::vector<http::Header> headers;
  bool allow;
  std::string reason_fragment;
};

void PrintTo(const Row& row, std::ostream* os) { *os << row.label; }

std::vector<Row> Rows() {
  const Identity frontend{"shop", "frontend"}, tester{"shop", "tester"}, writer{"shop", "writer"},
      ops{"shop", "ops"}, api{"shop", "api"};
  const std::string values_allowed = "TrafficTarget shop/api-web HTTPRouteGroup shop/api-routes match values";
  const std::string frontend_no_match =
      " matches no HTTPRouteGroup rule of TrafficTarget shop/api-web for shop/frontend";
  return {
      // pathRegex is a full match of the path.
      {"path_exact_allows", frontend, api, 80, "GET", "/api/values", {}, true, values_allowed},
      {"path_subpath_denied", frontend, api, 80, "GET", "/api/values/1", {}, false,
       "GET /api/values/1" + frontend_no_match},
      {"path_suffix_denied", frontend, api, 80, "GET", "/api/valuesX", {}, false,
       "GET /api/valuesX" + frontend_no_match},
      {"path_prefix_denied", frontend, api, 80, "GET", "/api", {}, false, frontend_no_match},
      {"path_is_case_sensitive", frontend, api, 80, "GET", "/API/VALUES", {}, false, frontend_no_match},
      {"path_root_denied", frontend, api, 80, "GET", "/", {}, false, "GET /" + frontend_no_match},
      // methods: a list allows only those; "*" allows any.
      {"get_only_denies_post", frontend, api, 80, "POST", "/api/values", {}, false,
       "method POST not allowed by " + values_allowed + " (allows GET)"},
      {"get_only_denies_head", frontend, api, 80, "HEAD", "/api/values", {}, false, "method HEAD not allowed"},
      {"star_allows_get", frontend, api, 80, "GET", "/healthz", {}, true, "match health"},
      {"star_allows_delete", frontend, api, 80, "DELETE", "/healthz", {}, true, "match health"},
      {"star_allows_extension_method", frontend, api, 80, "PURGE", "/healthz", {}, true, "match health"},
      // headers: AND within a match (names case-insensitive, values full match).
      {"all_headers_allow", frontend, api, 80, "GET", "/admin/users", {{"x-role", "admin"}, {"x-tenant", "t42"}}, true,
       "TrafficTarget shop/api-web HTTPRouteGroup shop/api-routes match admin"},
      {"header_names_any_case", frontend, api, 80, "PUT", "/admin/users", {{"X-Role", "admin"}, {"X-TENANT", "t7"}},
       true, "match admin"},
      {"one_header_missing_denies", frontend, api, 80, "GET", "/admin/users", {{"x-role", "admin"}}, false,
       "header x-tenant does not match"},
      {"header_value_is_full_match", frontend, api, 80, "GET", "/admin/users",
       {{"x-role", "administrator"}, {"x-tenant", "t1"}}, false, "header x-role does not match"},
      {"header_value_suffix_denied", frontend, api, 80, "GET", "/admin/users",
       {{"x-role", "admin"}, {"x-tenant", "t42x"}}, false, "header x-tenant does not match"},
      {"repeated_header_one_matches", frontend, api, 80, "GET", "/admin/users",
       {{"x-role", "guest"}, {"x-role", "admin"}, {"x-tenant", "t1"}}, true, "match admin"},
      {"headers_without_path_match_deny", frontend, api, 80, "GET", "/other", {{"x-role", "admin"}, {"x-tenant", "t1"}},
       false, frontend_no_match},
      // OR across matches; a match without pathRegex or methods allows any path and method.
      {"first_match_of_or", tester, api, 80, "GET", "/anything", {{"x-beta", "yes"}}, true,
       "TrafficTarget shop/api-beta HTTPRouteGroup shop/beta-routes match beta-header"},
      {"second_match_of_or", tester, api, 80, "POST", "/x/y", {{"cookie", "a=b; canary=1"}}, true,
       "match canary-cookie"},
      {"no_match_of_or", tester, api, 80, "GET", "/anything", {}, false,
       "GET /anything matches no HTTPRouteGroup rule of TrafficTarget shop/api-beta for shop/tester"},
      {"or_header_wrong_value", tester, api, 80, "GET", "/anything", {{"x-beta", "no"}}, false, "shop/api-beta"},
      {"rules_of_other_sources_do_not_apply", tester, api, 80, "GET", "/api/values", {}, false, "shop/api-beta"},
      // Source selection, as at L4.
      {"unlisted_source", {"shop", "stranger"}, api, 80, "GET", "/api/values", {}, false,
       "no TrafficTarget for shop/api lists source shop/stranger"},
      {"same_sa_other_namespace", {"other", "frontend"}, api, 80, "GET", "/api/values", {}, false,
       "lists source other/frontend"},
      {"no_target_for_destination", frontend, {"shop", "nothing"}, 80, "GET", "/", {}, false,
       "no TrafficTarget in namespace shop lets shop/frontend reach shop/nothing"},
      // destination_port (access v1alpha2).
      {"destination_port_allows", writer, api, 8080, "POST", "/api/values", {}, true,
       "TrafficTarget shop/api-writer HTTPRouteGroup shop/write-routes match write"},
      {"destination_port_wrong_port", writer, api, 80, "POST", "/api/values", {}, false,
       "TrafficTarget shop/api-writer allows shop/writer only on port 8080, not 80"},
      {"destination_port_wrong_method", writer, api, 8080, "GET", "/api/values", {}, false,
       "method GET not allowed by TrafficTarget shop/api-writer HTTPRouteGroup shop/write-routes match write"},
      // A TCP rule allowing the port allows every request; on other ports the HTTP rules decide.
      {"tcp_rule_allows_any_request", ops, api, 9090, "DELETE", "/anything", {}, true,
       "allowed by TrafficTarget shop/api-ops rule TCPRoute ops-port"},
      {"tcp_rule_other_port_http_allows", ops, api, 80, "GET", "/api/values", {}, true,
       "TrafficTarget shop/api-ops HTTPRouteGroup shop/api-routes match values"},
      {"tcp_rule_other_port_http_denies", ops, api, 80, "GET", "/secret", {}, false,
       "GET /secret matches no HTTPRouteGroup rule of TrafficTarget shop/api-ops for shop/ops"},
      {"tcp_only_target_allows", ops, {"shop", "db"}, 5432, "GET", "/", {}, true, "TCPRoute db-port"},
      {"tcp_only_target_wrong_port", ops, {"shop", "db"}, 80, "GET", "/", {}, false, "port 80 is not in"},
      // Invalid regexes fail closed, the whole rule (not just the bad match); other rules still work.
      {"invalid_rule_valid_match_denied", frontend, {"shop", "legacy"}, 80, "GET", "/ok", {}, false,
       "GET /ok matches no HTTPRouteGroup rule of TrafficTarget shop/broken"},
      {"invalid_rule_bad_match_denied", frontend, {"shop", "legacy"}, 80, "GET", "/bad(", {}, false,
       "shop/broken"},
      {"valid_rule_beside_invalid_allows", frontend, {"shop", "legacy"}, 80, "GET", "/fine", {}, true,
       "TrafficTarget shop/broken HTTPRouteGroup shop/good match fine"},
      {"only_invalid_rule_denies", frontend, {"shop", "fragile"}, 80, "GET", "/", {{"x-id", "[unclosed"}}, false,
       "TrafficTarget shop/fragile HTTPRouteGroup bad-header has an invalid regex and allows nothing"},
  };
}

PolicyEvaluator* BuildEvaluator() {
  smi::CompileResult compiled = smi::Compile(smi::ParseManifests(kPolicy, "policy.yaml"), smi::MeshOptions{});
  for (const auto& r : compiled.rejections) ADD_FAILURE() << r.ToString();
  AddInvalidRegexAuthorizations(compiled.snapshot);
  return new PolicyEvaluator(std::move(compiled.snapshot));
}

class HttpPolicyTable : public ::testing::TestWithParam<Row> {
 protected:
  static void SetUpTestSuite() { evaluator_ = BuildEvaluator(); }
  static void TearDownTestSuite() {
    delete evaluator_;
    evaluator_ = nullptr;
  }
  static const PolicyEvaluator* evaluator_;
};
const PolicyEvaluator* HttpPolicyTable::evaluator_ = nullptr;

TEST_P(HttpPolicyTable, Verdict) {
  const Row& row = GetParam();
  Verdict v = evaluator_->EvaluateHttp(row.src, row.dst, row.port, row.method, row.path, row.headers);
  EXPECT_EQ(v.allow, row.allow) << v.reason;
  EXPECT_FALSE(v.needs_l7) << v.reason;
  EXPECT_NE(v.reason.find(row.reason_fragment), std::string::npos) << v.reason;
}

INSTANTIATE_TEST_SUITE_P(Table, HttpPolicyTable, ::testing::ValuesIn(Rows()),
                         [](const ::testing::TestParamInfo<Row>& info) { return info.param.label; });

TEST(HttpPolicy, InvalidRegexRulesAreCountedNotCompiledPartly) {
  std::unique_ptr<PolicyEvaluator> evaluator(BuildEvaluator());
  EXPECT_EQ(evaluator->invalid_http_rules(), 2u);
  // L4 still says the HTTP rules need a request (they are HTTP rules); the request then decides.
  EXPECT_TRUE(evaluator->EvaluateL4({"shop", "frontend"}, {"shop", "fragile"}, 80).needs_l7);
}

TEST(HttpPolicy, ReasonForAHugePathStaysShort) {
  std::unique_ptr<PolicyEvaluator> evaluator(BuildEvaluator());
  const std::string path = "/" + std::string(10000, 'a');
  Verdict v = evaluator->EvaluateHttp({"shop", "frontend"}, {"shop", "api"}, 80, "GET", path, {});
  EXPECT_FALSE(v.allow);
  EXPECT_LT(v.reason.size(), 600u) << v.reason;
  EXPECT_NE(v.reason.find("matches no HTTPRouteGroup rule"), std::string::npos) << v.reason;
}

TEST(HttpPolicy, EmptySnapshotDeniesEveryRequest) {
  PolicyEvaluator evaluator{v1::PolicySnapshot()};
  Verdict v = evaluator.EvaluateHttp({"a", "b"}, {"a", "c"}, 80, "GET", "/", {});
  EXPECT_FALSE(v.allow);
  EXPECT_EQ(v.reason, "no TrafficTarget in namespace a lets a/b reach a/c");
  EXPECT_FALSE(evaluator.HasHttpRules({"a", "c"}, 80));
}

TEST(HttpPolicy, HasHttpRulesPerDestinationAndPort) {
  std::unique_ptr<PolicyEvaluator> evaluator(BuildEvaluator());
  EXPECT_TRUE(evaluator->HasHttpRules({"shop", "api"}, 80));
  EXPECT_TRUE(evaluator->HasHttpRules({"shop", "api"}, 9090));  // api-web applies to every port
  EXPECT_FALSE(evaluator->HasHttpRules({"shop", "db"}, 5432));  // TCP rules only
  EXPECT_FALSE(evaluator->HasHttpRules({"shop", "nothing"}, 80));
  EXPECT_FALSE(evaluator->HasHttpRules({"other", "api"}, 80));
  EXPECT_TRUE(evaluator->HasHttpRules({"shop", "reports"}, 8080));  // v1alpha2 destination port
  EXPECT_FALSE(evaluator->HasHttpRules({"shop", "reports"}, 80));
  EXPECT_TRUE(evaluator->HasHttpRules({"shop", "fragile"}, 80));  // invalid still means "HTTP here"
}

// Worker threads share one evaluator: concurrent requests get the same answers as serial ones.
TEST(HttpPolicy, ConcurrentRequestsGetConsistentVerdicts) {
  std::unique_ptr<PolicyEvaluator> evaluator(BuildEvaluator());
  const std::vector<Row> rows = Rows();
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        for (const Row& row : rows) {
          Verdict v = evaluator->EvaluateHttp(row.src, row.dst, row.port, row.method, row.path, row.headers);
          if (v.allow != row.allow) ++wrong;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace ferry::policy
