// SMI parsing: one manifest per supported version of each kind, and where errors point.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "controlplane/smi/parse.h"

namespace ferry::smi {
namespace {

std::string AllRejections(const ResourceSet& set) {
  std::string out;
  for (const Rejection& r : set.rejections) out += r.ToString() + "\n";
  return out;
}

ResourceSet ParseClean(std::string_view yaml) {
  ResourceSet set = ParseManifests(yaml, "test.yaml");
  EXPECT_TRUE(set.rejections.empty()) << AllRejections(set);
  return set;
}

TEST(SmiParseTrafficTarget, V1alpha2WithDestinationPort) {
  ResourceSet set = ParseClean(R"(
apiVersion: access.smi-spec.io/v1alpha2
kind: TrafficTarget
metadata:
  name: api-access
  namespace: shop
spec:
  destination:
    kind: ServiceAccount
    name: api
    namespace: shop
    port: 8080
  rules:
  - kind: HTTPRouteGroup
    name: api-routes
    matches: [metrics]
  sources:
  - kind: ServiceAccount
    name: frontend
    namespace: shop
  - kind: ServiceAccount
    name: prometheus
    namespace: monitoring
)");
  ASSERT_EQ(set.traffic_targets.size(), 1u);
  const TrafficTarget& t = set.traffic_targets[0];
  EXPECT_EQ(t.meta.name, "api-access");
  EXPECT_EQ(t.meta.ns, "shop");
  EXPECT_EQ(t.meta.api_version, "access.smi-spec.io/v1alpha2");
  EXPECT_EQ(t.destination.name, "api");
  EXPECT_EQ(t.destination_port, 8080u);
  ASSERT_EQ(t.sources.size(), 2u);
  EXPECT_EQ(t.sources[1].ns, "monitoring");
  EXPECT_EQ(t.sources[1].name, "prometheus");
  ASSERT_EQ(t.rules.size(), 1u);
  EXPECT_EQ(t.rules[0].kind, "HTTPRouteGroup");
  EXPECT_EQ(t.rules[0].matches, std::vector<std::string>{"metrics"});
}

TEST(SmiParseTrafficTarget, V1alpha3DefaultsNamespaces) {
  ResourceSet set = ParseClean(R"(
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata:
  name: db-access
spec:
  destination: {kind: ServiceAccount, name: db}
  rules:
  - {kind: TCPRoute, name: db-port}
  sources:
  - {kind: ServiceAccount, name: api}
)");
  ASSERT_EQ(set.traffic_targets.size(), 1u);
  const TrafficTarget& t = set.traffic_targets[0];
  EXPECT_EQ(t.meta.ns, "default");
  EXPECT_EQ(t.destination.ns, "default");
  EXPECT_FALSE(t.destination_port.has_value());
  EXPECT_EQ(t.sources.at(0).ns, "default");
  EXPECT_TRUE(t.rules.at(0).matches.empty());
}

TEST(SmiParseHttpRouteGroup, V1alpha1TopLevelMatches) {
  ResourceSet set = ParseClean(R"(
apiVersion: specs.smi-spec.io/v1alpha1
kind: HTTPRouteGroup
metadata: {name: the-routes, namespace: shop}
matches:
- name: metrics
  pathRegex: "/metrics"
  methods: [GET]
- name: everything
  pathRegex: ".*"
  methods: ["*"]
)");
  ASSERT_EQ(set.http_route_groups.size(), 1u);
  const HttpRouteGroup& g = set.http_route_groups[0];
  ASSERT_EQ(g.matches.size(), 2u);
  EXPECT_EQ(g.matches[0].name, "metrics");
  EXPECT_EQ(g.matches[0].path_regex, "/metrics");
  EXPECT_EQ(g.matches[0].methods, std::vector<std::string>{"GET"});
  EXPECT_EQ(g.matches[1].methods, std::vector<std::string>{"*"});
}

TEST(SmiParseHttpRouteGroup, V1alpha2HeadersAsListOfMaps) {
  ResourceSet set = ParseClean(R"(
apiVersion: specs.smi-spec.io/v1alpha2
kind: HTTPRouteGroup
metadata: {name: ab, namespace: shop}
matches:
- name: android-insiders
  headers:
  - User-Agent: ".*Android.*"
  - cookie: "^(.*?;)?(type=insider)(;.*)?$"
)");
  ASSERT_EQ(set.http_route_groups.size(), 1u);
  const HttpRouteMatch& m = set.http_route_groups[0].matches.at(0);
  EXPECT_TRUE(m.path_regex.empty());
  EXPECT_EQ(m.headers.at("user-agent"), ".*Android.*");  // header names are lower-cased
  EXPECT_EQ(m.headers.size(), 2u);
}

TEST(SmiParseHttpRouteGroup, V1alpha3SpecMatchesWithHeaderMap) {
  ResourceSet set = ParseClean(R"(
apiVersion: specs.smi-spec.io/v1alpha3
kind: HTTPRouteGroup
metadata: {name: r, namespace: shop}
spec:
  matches:
  - name: iphone-users
    pathRegex: "/api/.*"
    methods: [GET, HEAD]
    headers:
      user-agent: ".*iPhone.*"
)");
  const HttpRouteMatch& m = set.http_route_groups.at(0).matches.at(0);
  EXPECT_EQ(m.methods, (std::vector<std::string>{"GET", "HEAD"}));
  EXPECT_EQ(m.headers.at("user-agent"), ".*iPhone.*");
}

TEST(SmiParseHttpRouteGroup, V1alpha4) {
  ResourceSet set = ParseClean(R"(
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: api-routes, namespace: shop}
spec:
  matches:
  - {name: values, pathRegex: /api/values, methods: [GET, POST]}
  - {name: health, pathRegex: /healthz, methods: ["*"]}
)");
  ASSERT_EQ(set.http_route_groups.at(0).matches.size(), 2u);
  EXPECT_EQ(set.http_route_groups[0].matches[0].path_regex, "/api/values");
}

TEST(SmiParseTcpRoute, V1alpha1ToV1alpha3HaveNoPorts) {
  for (const char* version : {"v1alpha1", "v1alpha2", "v1alpha3"}) {
    std::string yaml = std::string("apiVersion: specs.smi-spec.io/") + version +
                       "\nkind: TCPRoute\nmetadata: {name: tcp, namespace: shop}\nspec: {}\n";
    ResourceSet set = ParseClean(yaml);
    ASSERT_EQ(set.tcp_routes.size(), 1u) << version;
    EXPECT_TRUE(set.tcp_routes[0].ports.empty()) << version;
  }
}

TEST(SmiParseTcpRoute, V1alpha4PortsSortedAndDeduplicated) {
  ResourceSet set = ParseClean(R"(
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: db-ports, namespace: shop}
spec:
  matches:
    name: mysql
    ports: [6446, 3306, 6446]
)");
  ASSERT_EQ(set.tcp_routes.size(), 1u);
  EXPECT_EQ(set.tcp_routes[0].match_name, "mysql");
  EXPECT_EQ(set.tcp_routes[0].ports, (std::vector<uint32_t>{3306, 6446}));
}

TEST(SmiParseTrafficSplit, EveryVersionAndRootServiceForm) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"v1alpha2", "api"}, {"v1alpha3", "api.shop"}, {"v1alpha4", "api.shop.svc.cluster.local"}};
  for (const auto& [version, root] : cases) {
    std::string yaml = "apiVersion: split.smi-spec.io/" + version +
                       "\nkind: TrafficSplit\nmetadata: {name: canary, namespace: shop}\n"
                       "spec:\n  service: " + root +
                       "\n  backends:\n  - {service: api-v1, weight: 90}\n  - {service: api-v2, weight: 10}\n";
    ResourceSet set = ParseClean(yaml);
    ASSERT_EQ(set.traffic_splits.size(), 1u) << version;
    const TrafficSplit& s = set.traffic_splits[0];
    EXPECT_EQ(s.root_service, "api") << root;
    ASSERT_EQ(s.backends.size(), 2u);
    EXPECT_EQ(s.backends[0].service, "api-v1");
    EXPECT_EQ(s.backends[0].weight, 90u);
    EXPECT_EQ(s.backends[1].weight, 10u);
  }
}

TEST(SmiParse, RejectionPointsAtFileAndLineOfTheDocument) {
  ResourceSet set = ParseManifests(R"(# leading comment
apiVersion: v1
kind: ServiceAccount
metadata: {name: api, namespace: shop}
---
# the bad one
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: broken, namespace: shop}
spec: {}
)", "manifests/shop.yaml");
  EXPECT_EQ(set.service_accounts.size(), 1u);
  ASSERT_EQ(set.rejections.size(), 1u);
  EXPECT_EQ(set.rejections[0].origin.line, 7);
  EXPECT_EQ(set.rejections[0].ToString().rfind("manifests/shop.yaml:7: TrafficTarget shop/broken rejected: ", 0), 0u)
      << set.rejections[0].ToString();
}

TEST(SmiParse, SyntaxErrorInOneDocumentKeepsTheOthers) {
  ResourceSet set = ParseManifests(R"(apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: [unclosed
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: api, namespace: shop}
)", "multi.yaml");
  EXPECT_EQ(set.namespaces.size(), 1u);
  EXPECT_EQ(set.service_accounts.size(), 1u);
  ASSERT_EQ(set.rejections.size(), 1u);
  EXPECT_NE(set.rejections[0].reason.find("invalid YAML"), std::string::npos);
  EXPECT_NE(set.rejections[0].ToString().find("multi.yaml:"), std::string::npos);
}

TEST(SmiParse, EmptyDocumentsAndListKind) {
  ResourceSet set = ParseClean(R"(---
---
# only a comment
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ServiceAccount, metadata: {name: a, namespace: shop}}
- {apiVersion: v1, kind: ServiceAccount, metadata: {name: b, namespace: shop}}
...
)");
  ASSERT_EQ(set.service_accounts.size(), 2u);
  EXPECT_EQ(set.service_accounts[1].meta.name, "b");
}

class SmiManifestDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ferry-smi-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  std::filesystem::path dir_;
};

TEST_F(SmiManifestDir, LoadsYamlAndYmlFilesOnly) {
  Write("a.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n");
  Write("b.yml", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: api, namespace: shop}\n");
  Write("notes.txt", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ignored}\n");
  Result<ResourceSet> set = LoadManifestPath(dir_);
  ASSERT_TRUE(set.ok()) << set.error().Message();
  EXPECT_EQ(set->namespaces.size(), 1u);
  ASSERT_EQ(set->service_accounts.size(), 1u);
  EXPECT_EQ(set->service_accounts[0].meta.origin.source, (dir_ / "b.yml").string());
  EXPECT_TRUE(set->rejections.empty());
}

TEST_F(SmiManifestDir, SingleFileAndMissingPath) {
  Write("one.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n");
  Result<ResourceSet> one = LoadManifestPath(dir_ / "one.yaml");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->namespaces.size(), 1u);
  Result<ResourceSet> missing = LoadManifestPath(dir_ / "nope.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().Message().find("nope.yaml"), std::string::npos);
}

}  // namespace
}  // namespace ferry::smi
