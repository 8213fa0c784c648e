// L4 evaluation, table-driven over one policy written as SMI manifests.
#include <gtest/gtest.h>

#include "agent/policy/evaluator.h"
#include "controlplane/smi/compile.h"
#include "controlplane/smi/parse.h"

namespace ferry::policy {
namespace {

constexpr const char* kPolicy = R"(
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: db-port, namespace: shop}
spec: {matches: {ports: [5432]}}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: db-admin, namespace: shop}
spec: {matches: {ports: [5433]}}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: any-port, namespace: shop}
spec: {}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: any-port, namespace: other}
spec: {}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: web-routes, namespace: shop}
spec:
  matches: [{name: all, pathRegex: ".*", methods: ["*"]}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: db-access, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: db}
  rules: [{kind: TCPRoute, name: db-port}]
  sources: [{kind: ServiceAccount, name: api}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: db-batch, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: db}
  rules: [{kind: TCPRoute, name: db-admin}]
  sources: [{kind: ServiceAccount, name: batch}, {kind: ServiceAccount, name: api}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: cache-all, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: cache}
  rules: [{kind: TCPRoute, name: any-port}]
  sources: [{kind: ServiceAccount, name: api}, {kind: ServiceAccount, name: worker}]
---
apiVersion: access.smi-spec.io/v1alpha2
kind: TrafficTarget
metadata: {name: legacy, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: legacy, port: 8080}
  rules: [{kind: TCPRoute, name: any-port}]
  sources: [{kind: ServiceAccount, name: api}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: web-http, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: web}
  rules: [{kind: HTTPRouteGroup, name: web-routes}]
  sources: [{kind: ServiceAccount, name: frontend}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: mixed, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: mixed}
  rules: [{kind: TCPRoute, name: db-port}, {kind: HTTPRouteGroup, name: web-routes}]
  sources: [{kind: ServiceAccount, name: frontend}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: no-sources, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: lonely}
  rules: [{kind: TCPRoute, name: any-port}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: no-rules, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: ruleless}
  sources: [{kind: ServiceAccount, name: api}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: other-db, namespace: other}
spec:
  destination: {kind: ServiceAccount, name: db}
  rules: [{kind: TCPRoute, name: any-port}]
  sources: [{kind: ServiceAccount, name: worker, namespace: shop}]
)";

struct Row {
  std::string label;
  Identity src;
  Identity dst;
  uint16_t port;
  bool allow;
  bool needs_l7;
  std::string reason_fragment;
};

void PrintTo(const Row& row, std::ostream* os) { *os << row.label; }

std::vector<Row> Rows() {
  const Identity api{"shop", "api"}, worker{"shop", "worker"}, batch{"shop", "batch"},
      frontend{"shop", "frontend"}, other_api{"other", "api"};
  return {
      {"no_target", api, {"shop", "nothing"}, 80, false, false,
       "no TrafficTarget in namespace shop for service account nothing"},
      {"target_allows_sa", api, {"shop", "db"}, 5432, true, false,
       "allowed by TrafficTarget shop/db-access rule TCPRoute db-port"},
      {"other_sa_denied", worker, {"shop", "db"}, 5432, false, false,
       "no TrafficTarget for shop/db lists source shop/worker"},
      {"other_namespace_target_does_not_count", worker, {"shop", "db"}, 5433, false, false, "lists source shop/worker"},
      {"cross_namespace_source_listed", worker, {"other", "db"}, 5432, true, false, "TrafficTarget other/other-db"},
      {"same_sa_name_other_namespace_source", other_api, {"shop", "cache"}, 6379, false, false,
       "lists source other/api"},
      {"tcp_ports_match", batch, {"shop", "db"}, 5433, true, false,
       "TrafficTarget shop/db-batch rule TCPRoute db-admin"},
      {"tcp_ports_mismatch", batch, {"shop", "db"}, 5432, false, false,
       "port 5432 is not in TrafficTarget shop/db-batch"},
      {"tcp_ports_mismatch_everywhere", api, {"shop", "db"}, 6000, false, false, "port 6000 is not in"},
      {"targets_are_additive", api, {"shop", "db"}, 5433, true, false, "shop/db-batch"},
      {"empty_ports_low", worker, {"shop", "cache"}, 1, true, false, "TCPRoute any-port"},
      {"empty_ports_high", worker, {"shop", "cache"}, 65535, true, false, "TCPRoute any-port"},
      {"v1alpha2_destination_port_match", api, {"shop", "legacy"}, 8080, true, false, "shop/legacy"},
      {"v1alpha2_destination_port_mismatch", api, {"shop", "legacy"}, 9090, false, false,
       "TrafficTarget shop/legacy allows shop/api only on port 8080, not 9090"},
      {"http_only_needs_l7", frontend, {"shop", "web"}, 80, false, true,
       "only HTTPRouteGroup rules apply, decided per HTTP request"},
      {"http_target_other_source", api, {"shop", "web"}, 80, false, false, "lists source shop/api"},
      {"mixed_tcp_port_allows", frontend, {"shop", "mixed"}, 5432, true, false, "TCPRoute db-port"},
      {"mixed_other_port_needs_l7", frontend, {"shop", "mixed"}, 80, false, true, "HTTPRouteGroup web-routes"},
      {"target_without_sources", api, {"shop", "lonely"}, 80, false, false, "lists source shop/api"},
      {"target_without_rules", api, {"shop", "ruleless"}, 80, false, false, "TrafficTarget shop/no-rules has no rules"},
  };
}

class PolicyEvaluatorTable : public ::testing::TestWithParam<Row> {
 protected:
  static void SetUpTestSuite() {
    smi::CompileResult compiled = smi::Compile(smi::ParseManifests(kPolicy, "policy.yaml"), smi::MeshOptions{});
    for (const auto& r : compiled.rejections) ADD_FAILURE() << r.ToString();
    evaluator_ = new PolicyEvaluator(std::move(compiled.snapshot));
  }
  static void TearDownTestSuite() {
    delete evaluator_;
    evaluator_ = nullptr;
  }
  static const PolicyEvaluator* evaluator_;
};
const PolicyEvaluator* PolicyEvaluatorTable::evaluator_ = nullptr;

TEST_P(PolicyEvaluatorTable, Verdict) {
  const Row& row = GetParam();
  Verdict v = evaluator_->EvaluateL4(row.src, row.dst, row.port);
  EXPECT_EQ(v.allow, row.allow) << v.reason;
  EXPECT_EQ(v.needs_l7, row.needs_l7) << v.reason;
  EXPECT_NE(v.reason.find(row.reason_fragment), std::string::npos) << v.reason;
}

INSTANTIATE_TEST_SUITE_P(Table, PolicyEvaluatorTable, ::testing::ValuesIn(Rows()),
                         [](const ::testing::TestParamInfo<Row>& info) { return info.param.label; });

TEST(PolicyEvaluator, EmptySnapshotDeniesEverything) {
  PolicyEvaluator evaluator{v1::PolicySnapshot()};
  Verdict v = evaluator.EvaluateL4({"a", "b"}, {"a", "c"}, 80);
  EXPECT_FALSE(v.allow);
  EXPECT_FALSE(v.needs_l7);
}

TEST(PolicyEvaluator, AuthorizationOutsideItsOwnNamespaceIsIgnored) {
  // Only a hand-made snapshot can carry this (the compiler rejects it): it must still not count.
  v1::PolicySnapshot snapshot;
  v1::Authorization* auth = snapshot.add_authorizations();
  auth->set_namespace_("attacker");
  auth->set_name("grab");
  auth->mutable_destination()->set_namespace_("shop");
  auth->mutable_destination()->set_name("db");
  v1::ServiceAccountRef* src = auth->add_sources();
  src->set_namespace_("attacker");
  src->set_name("x");
  auth->add_rules()->mutable_tcp();
  PolicyEvaluator evaluator(snapshot);
  EXPECT_EQ(evaluator.ignored_authorizations(), 1u);
  EXPECT_FALSE(evaluator.EvaluateL4({"attacker", "x"}, {"shop", "db"}, 5432).allow);
}

}  // namespace
}  // namespace ferry::policy

namespace ferry::policy {
namespace {

TEST(PolicyEvaluator, MeshConfigAccessors) {
  v1::PolicySnapshot snapshot;
  snapshot.mutable_mesh()->set_permissive(true);
  snapshot.mutable_mesh()->add_inbound_exempt_ips("198.18.0.1");
  snapshot.mutable_mesh()->add_inbound_exempt_ips("not-an-ip");
  v1::Workload* w = snapshot.add_workloads();
  w->set_ip("198.18.1.7");
  PolicyEvaluator evaluator(snapshot);
  EXPECT_TRUE(evaluator.Permissive());
  EXPECT_FALSE(evaluator.DenyEgress());
  EXPECT_TRUE(evaluator.IsInboundExempt((198u << 24) | (18u << 16) | 1u));
  EXPECT_FALSE(evaluator.IsInboundExempt((198u << 24) | (18u << 16) | 2u));
  EXPECT_TRUE(evaluator.IsMeshWorkloadIp((198u << 24) | (18u << 16) | (1u << 8) | 7u));
  EXPECT_FALSE(evaluator.IsMeshWorkloadIp((198u << 24) | (18u << 16) | 1u));
}

}  // namespace
}  // namespace ferry::policy
