// Compilation into ferry.v1.PolicySnapshot: rules resolved against their routes, splits, services.
#include <gtest/gtest.h>

#include "controlplane/smi/compile.h"
#include "controlplane/smi/parse.h"

namespace ferry::smi {
namespace {

CompileResult CompileYaml(std::string_view yaml, const std::vector<v1::Workload>& workloads = {}) {
  CompileResult result = Compile(ParseManifests(yaml, "c.yaml"), MeshOptions{}, workloads);
  for (const Rejection& r : result.rejections) ADD_FAILURE() << r.ToString();
  return result;
}

const v1::Authorization& FindAuth(const v1::PolicySnapshot& s, const std::string& name) {
  for (const auto& a : s.authorizations()) {
    if (a.name() == name) return a;
  }
  static const v1::Authorization kNone;
  ADD_FAILURE() << "no authorization " << name;
  return kNone;
}

constexpr const char* kRoutes = R"(
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: api-routes, namespace: shop}
spec:
  matches:
  - {name: values, pathRegex: /api/values, methods: [GET]}
  - {name: metrics, pathRegex: /metrics, methods: [GET], headers: {X-Scraper: prom.*}}
  - {name: health, pathRegex: /healthz, methods: ["*"]}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: db-ports, namespace: shop}
spec: {matches: {ports: [5432, 5433]}}
---
apiVersion: specs.smi-spec.io/v1alpha3
kind: TCPRoute
metadata: {name: any-port, namespace: shop}
spec: {}
)";

TEST(SmiCompile, RuleMatchesFilterTheRouteGroupAndOmittedMeansAll) {
  CompileResult r = CompileYaml(std::string(kRoutes) + R"(
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: some, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: api}
  rules: [{kind: HTTPRouteGroup, name: api-routes, matches: [metrics, health]}]
  sources: [{kind: ServiceAccount, name: prometheus, namespace: monitoring}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: all, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: api}
  rules: [{kind: HTTPRouteGroup, name: api-routes}]
  sources: [{kind: ServiceAccount, name: frontend}]
)");
  const v1::Authorization& some = FindAuth(r.snapshot, "some");
  ASSERT_EQ(some.rules_size(), 1);
  EXPECT_EQ(some.rules(0).route_kind(), "HTTPRouteGroup");
  EXPECT_EQ(some.rules(0).route_name(), "api-routes");
  ASSERT_TRUE(some.rules(0).has_http());
  const v1::HttpRule& http = some.rules(0).http();
  ASSERT_EQ(http.matches_size(), 2);  // in the group's order, not the rule's
  EXPECT_EQ(http.matches(0).name(), "metrics");
  EXPECT_EQ(http.matches(0).path_regex(), "/metrics");
  EXPECT_EQ(http.matches(0).headers().at("x-scraper"), "prom.*");
  EXPECT_EQ(http.matches(1).name(), "health");
  EXPECT_EQ(http.matches(1).methods(0), "*");
  EXPECT_EQ(some.sources(0).namespace_(), "monitoring");

  const v1::Authorization& all = FindAuth(r.snapshot, "all");
  EXPECT_EQ(all.rules(0).http().matches_size(), 3);
  EXPECT_EQ(all.sources(0).namespace_(), "shop");
  EXPECT_EQ(all.destination().namespace_(), "shop");
  EXPECT_EQ(all.destination().name(), "api");
}

TEST(SmiCompile, TcpRoutePortsAndDestinationPort) {
  CompileResult r = CompileYaml(std::string(kRoutes) + R"(
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: db, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: db}
  rules: [{kind: TCPRoute, name: db-ports}, {kind: TCPRoute, name: any-port}]
  sources: [{kind: ServiceAccount, name: api}]
---
apiVersion: access.smi-spec.io/v1alpha2
kind: TrafficTarget
metadata: {name: legacy, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: legacy, port: 8080}
  rules: [{kind: TCPRoute, name: any-port}]
  sources: [{kind: ServiceAccount, name: api}]
)");
  const v1::Authorization& db = FindAuth(r.snapshot, "db");
  ASSERT_EQ(db.rules_size(), 2);
  ASSERT_TRUE(db.rules(0).has_tcp());
  EXPECT_EQ(std::vector<uint32_t>(db.rules(0).tcp().ports().begin(), db.rules(0).tcp().ports().end()),
            (std::vector<uint32_t>{5432, 5433}));
  ASSERT_TRUE(db.rules(1).has_tcp());
  EXPECT_EQ(db.rules(1).tcp().ports_size(), 0);  // all ports
  EXPECT_EQ(db.destination_port(), 0u);
  EXPECT_EQ(db.api_version(), "access.smi-spec.io/v1alpha3");

  const v1::Authorization& legacy = FindAuth(r.snapshot, "legacy");
  EXPECT_EQ(legacy.destination_port(), 8080u);
}

TEST(SmiCompile, TargetWithoutSourcesOrRulesIsKeptAndAllowsNothing) {
  CompileResult r = CompileYaml(R"(
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: empty, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: db}
)");
  const v1::Authorization& empty = FindAuth(r.snapshot, "empty");
  EXPECT_EQ(empty.sources_size(), 0);
  EXPECT_EQ(empty.rules_size(), 0);
}

TEST(SmiCompile, SplitRootServiceIsNormalised) {
  CompileResult r = CompileYaml(R"(
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: bare, namespace: a}
spec: {service: api, backends: [{service: api-v1, weight: 1}]}
---
apiVersion: split.smi-spec.io/v1alpha3
kind: TrafficSplit
metadata: {name: dotted, namespace: b}
spec: {service: api.b, backends: [{service: api-v1, weight: 1}]}
---
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: fqdn, namespace: c}
spec:
  service: api.c.svc.cluster.local
  backends: [{service: api-v1.c.svc.cluster.local, weight: 3}, {service: api-v2, weight: 0}]
)");
  ASSERT_EQ(r.snapshot.splits_size(), 3);
  for (const auto& split : r.snapshot.splits()) EXPECT_EQ(split.root_service(), "api") << split.name();
  const v1::TrafficSplit& fqdn = r.snapshot.splits(2);
  EXPECT_EQ(fqdn.namespace_(), "c");
  EXPECT_EQ(fqdn.backends(0).service(), "api-v1");
  EXPECT_EQ(fqdn.backends(0).weight(), 3u);
  EXPECT_EQ(fqdn.backends(1).weight(), 0u);
}

TEST(SmiCompile, ServicesWithEndpointsFromGivenWorkloads) {
  v1::Workload a;
  a.set_uid("uid-a");
  a.set_namespace_("shop");
  (*a.mutable_labels())["app"] = "api";
  (*a.mutable_labels())["version"] = "v1";
  v1::Workload b = a;
  b.set_uid("uid-b");
  b.set_namespace_("other");  // same labels, other namespace: not an endpoint
  v1::Workload c = a;
  c.set_uid("uid-c");
  (*c.mutable_labels())["app"] = "web";

  CompileResult r = CompileYaml(R"(
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  clusterIP: 198.19.0.10
  selector: {app: api}
  ports: [{name: api-port, port: 80, targetPort: 8080, appProtocol: http}]
---
apiVersion: v1
kind: Service
metadata: {name: manual, namespace: shop}
spec:
  clusterIP: None
  ports: [{port: 9000, targetPort: named}]
)", {a, b, c});
  ASSERT_EQ(r.snapshot.services_size(), 2);
  const v1::Service& api = r.snapshot.services(0);
  EXPECT_EQ(api.name(), "api");
  EXPECT_EQ(api.vip(), "198.19.0.10");
  ASSERT_EQ(api.ports_size(), 1);
  EXPECT_EQ(api.ports(0).name(), "api-port");
  EXPECT_EQ(api.ports(0).port(), 80u);
  EXPECT_EQ(api.ports(0).target_port(), 8080u);
  EXPECT_EQ(api.ports(0).protocol(), "TCP");
  EXPECT_EQ(api.ports(0).app_protocol(), "http");
  EXPECT_EQ(api.selector().at("app"), "api");
  ASSERT_EQ(api.endpoint_uids_size(), 1);
  EXPECT_EQ(api.endpoint_uids(0), "uid-a");

  const v1::Service& manual = r.snapshot.services(1);
  EXPECT_EQ(manual.vip(), "");  // headless
  EXPECT_EQ(manual.endpoint_uids_size(), 0);
  EXPECT_EQ(r.snapshot.workloads_size(), 3);
}

TEST(SmiCompile, MeshOptionsLandInTheSnapshot) {
  MeshOptions mesh;
  mesh.trust_domain = "ferry.test";
  mesh.permissive = true;
  mesh.inbound_exempt_ips = {"198.18.0.1"};
  CompileResult r = Compile(ResourceSet{}, mesh);
  EXPECT_EQ(r.snapshot.mesh().trust_domain(), "ferry.test");
  EXPECT_TRUE(r.snapshot.mesh().permissive());
  EXPECT_EQ(r.snapshot.mesh().inbound_exempt_ips(0), "198.18.0.1");
  EXPECT_EQ(r.snapshot.version(), 0u);
}

TEST(SmiCompile, MultiDocumentFileWithOneBadResourceCompilesTheRest) {
  ResourceSet set = ParseManifests(std::string(kRoutes) + R"(
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: db, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: db}
  rules: [{kind: TCPRoute, name: db-ports}]
  sources: [{kind: ServiceAccount, name: api}]
---
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: broken, namespace: shop}
spec: {service: api, backends: [{service: api-v1, weight: -5}]}
---
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: canary, namespace: shop}
spec: {service: api, backends: [{service: api-v1, weight: 9}, {service: api-v2, weight: 1}]}
)", "shop.yaml");
  CompileResult r = Compile(set, MeshOptions{});
  ASSERT_EQ(r.rejections.size(), 1u);
  EXPECT_NE(r.rejections[0].ToString().find("TrafficSplit shop/broken rejected"), std::string::npos);
  EXPECT_EQ(r.snapshot.authorizations_size(), 1);
  ASSERT_EQ(r.snapshot.splits_size(), 1);
  EXPECT_EQ(r.snapshot.splits(0).name(), "canary");
}

TEST(SmiCompile, OutputOrderDoesNotDependOnInputOrder) {
  const std::string one = "apiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: x}\n";
  const std::string two = "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: x}\n";
  CompileResult forward = CompileYaml(one + "---\n" + two);
  CompileResult backward = CompileYaml(two + "---\n" + one);
  EXPECT_EQ(forward.snapshot.SerializeAsString(), backward.snapshot.SerializeAsString());
  EXPECT_EQ(forward.snapshot.services(0).name(), "a");
}

}  // namespace
}  // namespace ferry::smi
