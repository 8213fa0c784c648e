// The rejection table: one row per class of bad input. Each bad resource must be rejected with a
// message naming the file, kind, namespace/name and the reason, and must not stop a good
// resource in the same file from compiling.
#include <gtest/gtest.h>

#include "controlplane/smi/compile.h"
#include "controlplane/smi/parse.h"

namespace ferry::smi {
namespace {

struct RejectCase {
  std::string label;
  std::string yaml;         // one bad resource (plus whatever it needs)
  std::string kind_and_name;  // e.g. "TrafficTarget shop/t"
  std::string reason_fragment;
};

// Appended to every case: must still compile whatever was wrong elsewhere in the file.
constexpr const char* kGoodNeighbour = R"(
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: good-route, namespace: shop}
spec: {matches: {ports: [5432]}}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: good, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: db, namespace: shop}
  rules: [{kind: TCPRoute, name: good-route}]
  sources: [{kind: ServiceAccount, name: api, namespace: shop}]
)";

// Keeps ctest's test list readable (gtest would otherwise print the struct's bytes).
void PrintTo(const RejectCase& c, std::ostream* os) { *os << c.label; }

std::string Target(const std::string& api_version, const std::string& spec_body) {
  return "apiVersion: access.smi-spec.io/" + api_version +
         "\nkind: TrafficTarget\nmetadata: {name: t, namespace: shop}\nspec:\n" + spec_body;
}

const char* kDest = "  destination: {kind: ServiceAccount, name: db, namespace: shop}\n";
const char* kSources = "  sources: [{kind: ServiceAccount, name: api}]\n";
const char* kRules = "  rules: [{kind: TCPRoute, name: good-route}]\n";

std::string Split(const std::string& api_version, const std::string& service, const std::string& backends) {
  return "apiVersion: split.smi-spec.io/" + api_version +
         "\nkind: TrafficSplit\nmetadata: {name: s, namespace: shop}\nspec:\n  service: " + service +
         "\n  backends:\n" + backends;
}

std::string Routes(const std::string& api_version, const std::string& matches) {
  return "apiVersion: specs.smi-spec.io/" + api_version +
         "\nkind: HTTPRouteGroup\nmetadata: {name: r, namespace: shop}\nspec:\n  matches:\n" + matches;
}

std::vector<RejectCase> Cases() {
  const std::string tt = "TrafficTarget shop/t";
  return {
      {"unknown_api_version", Target("v9", std::string(kDest) + kSources + kRules), tt,
       "unsupported apiVersion \"access.smi-spec.io/v9\" for kind TrafficTarget"},
      {"unknown_kind", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web, namespace: shop}\n",
       "Ingress shop/web", "unsupported kind \"Ingress\""},
      {"access_v1alpha1", Target("v1alpha1", std::string(kDest) + kSources + kRules), tt,
       "supported: access.smi-spec.io/v1alpha2, access.smi-spec.io/v1alpha3"},
      {"split_v1alpha1_quantities", Split("v1alpha1", "api", "  - {service: api-v1, weight: 500m}\n"),
       "TrafficSplit shop/s", "v1alpha1 is not supported: its weights are Kubernetes quantities"},
      {"missing_kind_field", "apiVersion: v1\nmetadata: {name: x, namespace: shop}\n", "shop/x",
       "kind: required field is missing"},
      {"missing_metadata_name", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {namespace: shop}\n",
       "ServiceAccount", "metadata.name: required field is missing"},
      {"missing_destination", Target("v1alpha3", std::string(kSources) + kRules), tt,
       "spec.destination: required field is missing"},
      {"missing_destination_name",
       Target("v1alpha3", std::string("  destination: {kind: ServiceAccount}\n") + kSources + kRules), tt,
       "spec.destination.name: required field is missing"},
      {"destination_not_service_account",
       Target("v1alpha3", std::string("  destination: {kind: Group, name: admins}\n") + kSources + kRules), tt,
       "kind \"Group\" is not supported (only ServiceAccount)"},
      {"source_not_service_account",
       Target("v1alpha3", std::string(kDest) + "  sources: [{kind: Group, name: g}]\n" + kRules), tt,
       "spec.sources[0].kind: kind \"Group\" is not supported"},
      {"destination_in_other_namespace",
       Target("v1alpha3", std::string("  destination: {kind: ServiceAccount, name: db, namespace: other}\n") +
                              kSources + kRules),
       tt, "destination namespace \"other\" differs from the TrafficTarget's namespace \"shop\""},
      {"rule_kind_not_supported",
       Target("v1alpha3", std::string(kDest) + kSources + "  rules: [{kind: UDPRoute, name: dns}]\n"), tt,
       "rule kind \"UDPRoute\" is not supported (HTTPRouteGroup or TCPRoute)"},
      {"rule_route_missing",
       Target("v1alpha3", std::string(kDest) + kSources + "  rules: [{kind: TCPRoute, name: nope}]\n"), tt,
       "spec.rules[0] (TCPRoute nope): no TCPRoute \"nope\" in namespace \"shop\""},
      {"rule_http_route_missing",
       Target("v1alpha3", std::string(kDest) + kSources + "  rules: [{kind: HTTPRouteGroup, name: nope}]\n"), tt,
       "no HTTPRouteGroup \"nope\" in namespace \"shop\""},
      {"rule_unknown_match_name",
       Routes("v1alpha4", "  - {name: health, pathRegex: /healthz}\n") + "\n---\n" +
           Target("v1alpha3", std::string(kDest) + kSources +
                                  "  rules: [{kind: HTTPRouteGroup, name: r, matches: [metrics]}]\n"),
       tt, "the HTTPRouteGroup has no match named \"metrics\""},
      {"destination_port_out_of_range",
       Target("v1alpha2",
              std::string("  destination: {kind: ServiceAccount, name: db, port: 70000}\n") + kSources + kRules),
       tt, "spec.destination.port: port 70000 is out of range 1-65535"},
      {"destination_port_in_v1alpha3",
       Target("v1alpha3",
              std::string("  destination: {kind: ServiceAccount, name: db, port: 8080}\n") + kSources + kRules),
       tt, "destination.port exists only in access.smi-spec.io/v1alpha2"},
      {"tcp_route_port_out_of_range",
       "apiVersion: specs.smi-spec.io/v1alpha4\nkind: TCPRoute\nmetadata: {name: bad, namespace: shop}\n"
       "spec: {matches: {ports: [0]}}\n",
       "TCPRoute shop/bad", "spec.matches.ports[0]: port 0 is out of range"},
      {"tcp_route_ports_before_v1alpha4",
       "apiVersion: specs.smi-spec.io/v1alpha3\nkind: TCPRoute\nmetadata: {name: bad, namespace: shop}\n"
       "spec: {matches: {ports: [80]}}\n",
       "TCPRoute shop/bad", "TCPRoute matches (ports) require specs.smi-spec.io/v1alpha4"},
      {"bad_path_regex", Routes("v1alpha4", "  - {name: m, pathRegex: \"/api/(unclosed\"}\n"),
       "HTTPRouteGroup shop/r", "spec.matches[0].pathRegex: invalid RE2 regular expression"},
      {"bad_header_regex", Routes("v1alpha4", "  - {name: m, headers: {user-agent: \"*Firefox\"}}\n"),
       "HTTPRouteGroup shop/r", "spec.matches[0].headers.user-agent: invalid RE2"},
      {"lower_case_method", Routes("v1alpha4", "  - {name: m, methods: [get]}\n"), "HTTPRouteGroup shop/r",
       "method \"get\" is not \"*\" or an upper-case HTTP method"},
      {"match_without_name", Routes("v1alpha4", "  - {pathRegex: /x}\n"), "HTTPRouteGroup shop/r",
       "spec.matches[0].name: required field is missing"},
      {"weight_negative", Split("v1alpha2", "api", "  - {service: a, weight: -1}\n  - {service: b, weight: 5}\n"),
       "TrafficSplit shop/s", "spec.backends[0].weight: weight -1 is negative"},
      {"weights_sum_zero", Split("v1alpha4", "api", "  - {service: a, weight: 0}\n  - {service: b, weight: 0}\n"),
       "TrafficSplit shop/s", "weights sum to 0"},
      {"weight_not_integer", Split("v1alpha3", "api", "  - {service: a, weight: 50%}\n"), "TrafficSplit shop/s",
       "must be an integer, got \"50%\""},
      {"no_backends", Split("v1alpha2", "api", "  []\n"), "TrafficSplit shop/s", "at least one backend is required"},
      {"duplicate_backend", Split("v1alpha2", "api", "  - {service: a, weight: 1}\n  - {service: a.shop, weight: 1}\n"),
       "TrafficSplit shop/s", "duplicate backend \"a\""},
      {"root_in_other_namespace", Split("v1alpha4", "api.other.svc.cluster.local", "  - {service: a, weight: 1}\n"),
       "TrafficSplit shop/s", "is in namespace \"other\", not the TrafficSplit's namespace \"shop\""},
      {"root_not_a_service_name", Split("v1alpha4", "api.shop.example.com", "  - {service: a, weight: 1}\n"),
       "TrafficSplit shop/s", "is not a service name"},
      {"split_with_http_matches",
       Split("v1alpha4", "api", "  - {service: a, weight: 1}\n") + "  matches: [{kind: HTTPRouteGroup, name: ab}]\n",
       "TrafficSplit shop/s", "A/B routing"},
      {"duplicate_resource",
       "apiVersion: specs.smi-spec.io/v1alpha4\nkind: TCPRoute\nmetadata: {name: good-route, namespace: shop}\n",
       "TCPRoute shop/good-route", "duplicate TCPRoute (first defined at f.yaml:"},
      {"not_a_mapping", "- just\n- a list\n", "resource", "document is not a mapping"},
  };
}

class SmiRejectTest : public ::testing::TestWithParam<RejectCase> {};

TEST_P(SmiRejectTest, RejectsOnlyTheBadResourceWithAClearReason) {
  const RejectCase& c = GetParam();
  // The bad resource comes first so a duplicate of the neighbour's route is the *second* one... except
  // for the duplicate case, where the neighbour must be first: put the good neighbour first there.
  const bool neighbour_first = c.label == "duplicate_resource";
  const std::string yaml = neighbour_first ? std::string(kGoodNeighbour) + "\n---\n" + c.yaml
                                           : c.yaml + kGoodNeighbour;
  CompileResult result = Compile(ParseManifests(yaml, "f.yaml"), MeshOptions{});

  ASSERT_EQ(result.rejections.size(), 1u) << c.label;
  const std::string text = result.rejections[0].ToString();
  EXPECT_EQ(text.rfind("f.yaml:", 0), 0u) << text;
  EXPECT_NE(text.find(c.kind_and_name + (c.kind_and_name == "resource" ? "" : " rejected")), std::string::npos)
      << text;
  EXPECT_NE(text.find(c.reason_fragment), std::string::npos) << text;

  // The good neighbour is unaffected.
  bool good_compiled = false;
  for (const auto& auth : result.snapshot.authorizations()) good_compiled |= auth.name() == "good";
  EXPECT_TRUE(good_compiled) << c.label;
}

INSTANTIATE_TEST_SUITE_P(Table, SmiRejectTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<RejectCase>& info) { return info.param.label; });

TEST(SmiReject, SecondSplitOfTheSameRootServiceIsRejected) {
  CompileResult result = Compile(ParseManifests(R"(
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: a-split, namespace: shop}
spec: {service: api, backends: [{service: api-v1, weight: 1}]}
---
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: b-split, namespace: shop}
spec: {service: api.shop, backends: [{service: api-v2, weight: 1}]}
)", "splits.yaml"), MeshOptions{});
  ASSERT_EQ(result.snapshot.splits_size(), 1);
  EXPECT_EQ(result.snapshot.splits(0).name(), "a-split");
  ASSERT_EQ(result.rejections.size(), 1u);
  EXPECT_NE(result.rejections[0].ToString().find("TrafficSplit shop/b-split rejected: root service \"api\" is "
                                                 "already split by TrafficSplit a-split"),
            std::string::npos)
      << result.rejections[0].ToString();
}

}  // namespace
}  // namespace ferry::smi
