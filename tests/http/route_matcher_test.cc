// RouteMatcher: HTTPRouteGroup semantics over normalised paths, as a table of requests.
#include "agent/http/route_matcher.h"

#include <gtest/gtest.h>

#include "agent/http/path_normalizer.h"

namespace ferry::http {
namespace {

ferry::v1::HttpMatch MakeMatch(std::string name, std::string path_regex,
                               std::vector<std::string> methods,
                               std::map<std::string, std::string> headers = {}) {
  ferry::v1::HttpMatch m;
  m.set_name(std::move(name));
  m.set_path_regex(std::move(path_regex));
  for (auto& method : methods) m.add_methods(method);
  for (auto& [k, v] : headers) (*m.mutable_headers())[k] = v;
  return m;
}

// Two TrafficTargets for the same destination, written like the walkthrough's (one per group).
RouteMatcher WalkthroughMatcher() {
  ferry::v1::Authorization api;
  api.set_namespace_("simple-app");
  api.set_name("api-access");
  auto* rule = api.add_rules();
  rule->set_route_kind("HTTPRouteGroup");
  rule->set_route_name("api-routes");
  *rule->mutable_http()->add_matches() = MakeMatch("api", "/api/values", {"*"});
  auto* tcp = api.add_rules();  // an L4 rule alongside: not the matcher's business
  tcp->set_route_kind("TCPRoute");
  tcp->set_route_name("tcp");
  tcp->mutable_tcp()->add_ports(8080);

  ferry::v1::Authorization ops;
  ops.set_namespace_("simple-app");
  ops.set_name("ops-access");
  auto* ops_rule = ops.add_rules();
  ops_rule->set_route_kind("HTTPRouteGroup");
  ops_rule->set_route_name("ops-routes");
  auto* http = ops_rule->mutable_http();
  *http->add_matches() = MakeMatch("admin-get", "/admin/.*", {"GET"}, {{"x-role", "admin|ops"}});
  *http->add_matches() = MakeMatch("items", "/items(/[0-9]+)?", {"POST", "PUT"});
  *http->add_matches() =
      MakeMatch("canary", "", {}, {{"user-agent", ".*Mobile.*"}, {"x-canary", "true"}});

  RouteMatcher matcher;
  EXPECT_TRUE(matcher.AddAuthorization(api).ok());
  EXPECT_TRUE(matcher.AddAuthorization(ops).ok());
  return matcher;
}

struct MatchCase {
  const char* method;
  const char* target;  // raw request target; normalised before matching, as the proxy does
  std::vector<Header> headers;
  bool allowed;
  const char* detail;  // substring of the allowing rule or of the denial reason
};

class Matching : public ::testing::TestWithParam<MatchCase> {};

TEST_P(Matching, Table) {
  static const RouteMatcher matcher = WalkthroughMatcher();
  const MatchCase& c = GetParam();
  auto target = NormalizePath(c.target);
  ASSERT_TRUE(target.ok()) << target.error().Message();
  const RouteDecision d = matcher.Match(c.method, target->path, c.headers);
  EXPECT_EQ(d.allowed, c.allowed) << c.method << " " << c.target << ": " << d.reason;
  const std::string& text = d.allowed ? d.rule : d.reason;
  EXPECT_NE(text.find(c.detail), std::string::npos) << text;
}

const std::vector<Header> kAdmin = {{"X-Role", "admin"}};

INSTANTIATE_TEST_SUITE_P(
    Cases, Matching,
    ::testing::Values(
        MatchCase{"GET",
                  "/api/values",
                  {},
                  true,
                  "simple-app/api-access HTTPRouteGroup/api-routes match api"},
        MatchCase{"POST", "/api/values", {}, true, "match api"},      // methods: ["*"]
        MatchCase{"GET", "/api/values?id=1", {}, true, "match api"},  // query is not matched
        MatchCase{"GET", "//api//values", {}, true, "match api"},
        MatchCase{"GET", "/api/./values", {}, true, "match api"},
        MatchCase{"GET", "/api/%76alues", {}, true, "match api"},
        MatchCase{"GET", "/api/values/1", {}, false, "path matches no allowed route"},
        MatchCase{"GET", "/api/valuesX", {}, false, "path matches no allowed route"},
        MatchCase{"GET", "/api/values/../admin", {}, false, "GET /api/admin: path"},
        MatchCase{"GET", "/api/values/../../admin", {}, false, "GET /admin: path"},
        MatchCase{"GET", "/api/values/", {}, false, "path"},
        MatchCase{"GET", "/API/values", {}, false, "path"},   // paths are case-sensitive
        MatchCase{"GET", "/xapi/values", {}, false, "path"},  // full match, not a search
        MatchCase{"GET", "/admin/users", kAdmin, true, "match admin-get"},
        MatchCase{"GET", "/admin/", {{"x-role", "ops"}}, true, "match admin-get"},
        MatchCase{
            "GET", "/admin/users", {{"X-ROLE", "guest"}, {"x-role", "admin"}}, true, "admin-get"},
        MatchCase{"GET", "/admin/users", {{"x-role", "administrator"}}, false, "header x-role"},
        MatchCase{"GET", "/admin/users", {}, false, "header x-role does not match"},
        MatchCase{"POST", "/admin/users", kAdmin, false, "method POST not allowed"},
        MatchCase{"POST", "/items", {}, true, "match items"},
        MatchCase{"PUT", "/items/42", {}, true, "match items"},
        MatchCase{"DELETE", "/items/42", {}, false, "method DELETE not allowed"},
        MatchCase{"POST", "/items/abc", {}, false, "path"},
        MatchCase{"GET",
                  "/anything",
                  {{"User-Agent", "Foo Mobile/1"}, {"X-Canary", "true"}},
                  true,
                  "match canary"},
        MatchCase{
            "DELETE", "/x/y", {{"user-agent", "Mobile"}, {"x-canary", "true"}}, true, "canary"},
        MatchCase{"GET", "/anything", {{"User-Agent", "Foo Mobile/1"}}, false, "header x-canary"},
        MatchCase{"GET",
                  "/anything",
                  {{"User-Agent", "Mobile"}, {"X-Canary", "true-ish"}},
                  false,
                  "header x-canary"}));

TEST(RouteMatcher, NoRulesDeniesEverything) {
  RouteMatcher matcher;
  const RouteDecision d = matcher.Match("GET", "/", {});
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.reason.find("no HTTP route"), std::string::npos);
}

TEST(RouteMatcher, EmptyPathAndMethodsAllowAnything) {
  ferry::v1::HttpRule rule;
  *rule.add_matches() = MakeMatch("all", "", {});
  RouteMatcher matcher;
  ASSERT_TRUE(matcher.AddRule("all-rule", rule).ok());
  EXPECT_TRUE(matcher.Match("PATCH", "/x/y/z", {}).allowed);
}

TEST(RouteMatcher, InvalidRegexIsRejectedWithItsRoute) {
  ferry::v1::HttpRule rule;
  *rule.add_matches() = MakeMatch("broken", "/api/(values", {"GET"});
  RouteMatcher matcher;
  auto r = matcher.AddRule("ns/tt HTTPRouteGroup/bad", rule);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().context.find("HTTPRouteGroup/bad match broken pathRegex"), std::string::npos)
      << r.error().context;
  ferry::v1::HttpRule header_rule;
  *header_rule.add_matches() = MakeMatch("h", "/", {"GET"}, {{"x-a", "[z-a]"}});
  EXPECT_FALSE(matcher.AddRule("r", header_rule).ok());
}

}  // namespace
}  // namespace ferry::http
