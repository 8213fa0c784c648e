// Service and TrafficSplit lookups the HTTP proxy routes with: by VIP, by name and port, the
// port's declared protocol, and the split of a root service.
#include <gtest/gtest.h>

#include "agent/policy/evaluator.h"
#include "controlplane/smi/compile.h"
#include "controlplane/smi/parse.h"

namespace ferry::policy {
namespace {

constexpr uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return (a << 24) | (b << 16) | (c << 8) | d; }

void AddWorkload(v1::PolicySnapshot& s, const std::string& uid, const std::string& ip) {
  v1::Workload* w = s.add_workloads();
  w->set_uid(uid);
  w->set_namespace_("shop");
  w->set_ip(ip);
}

v1::ServicePort* AddPort(v1::Service* svc, const std::string& name, uint32_t port, uint32_t target_port,
                         const std::string& app_protocol = "", const std::string& protocol = "TCP") {
  v1::ServicePort* p = svc->add_ports();
  p->set_name(name);
  p->set_port(port);
  p->set_target_port(target_port);
  p->set_app_protocol(app_protocol);
  p->set_protocol(protocol);
  return p;
}

v1::Service* AddService(v1::PolicySnapshot& s, const std::string& ns, const std::string& name, const std::string& vip) {
  v1::Service* svc = s.add_services();
  svc->set_namespace_(ns);
  svc->set_name(name);
  svc->set_vip(vip);
  return svc;
}

v1::PolicySnapshot ServicesSnapshot() {
  v1::PolicySnapshot s;
  AddWorkload(s, "web-1", "198.18.1.10");
  AddWorkload(s, "web-2", "198.18.1.11");
  v1::Service* web = AddService(s, "shop", "web", "198.19.0.10");
  web->add_endpoint_uids("web-1");
  web->add_endpoint_uids("web-2");
  web->add_endpoint_uids("gone");  // not a known workload: no endpoint
  AddPort(web, "http", 80, 8080);
  AddPort(web, "metrics", 9090, 0);  // target port 0 = the service port
  AddPort(web, "dns", 53, 53, "", "UDP");
  v1::Service* db = AddService(s, "shop", "db", "198.19.0.11");
  AddPort(db, "tcp-postgres", 5432, 5432);
  v1::Service* headless = AddService(s, "shop", "peers", "None");
  headless->add_endpoint_uids("web-1");
  AddPort(headless, "http-peer", 7000, 7001);
  return s;
}

TEST(ServiceLookup, ByNameAndPortCarriesEndpointsAndPortFacts) {
  PolicyEvaluator evaluator(ServicesSnapshot());
  const auto* web = evaluator.ResolveServicePort("shop", "web", 80);
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->ns, "shop");
  EXPECT_EQ(web->name, "web");
  EXPECT_EQ(web->port, 80u);
  EXPECT_EQ(web->port_name, "http");
  EXPECT_TRUE(web->http_declared);
  ASSERT_EQ(web->endpoints.size(), 2u);
  EXPECT_EQ(web->endpoints[0], (Ipv4Endpoint{Ip(198, 18, 1, 10), 8080}));
  EXPECT_EQ(web->endpoints[1], (Ipv4Endpoint{Ip(198, 18, 1, 11), 8080}));

  const auto* metrics = evaluator.ResolveServicePort("shop", "web", 9090);
  ASSERT_NE(metrics, nullptr);
  EXPECT_FALSE(metrics->http_declared);
  ASSERT_EQ(metrics->endpoints.size(), 2u);
  EXPECT_EQ(metrics->endpoints[0].port, 9090);
}

TEST(ServiceLookup, ByVipIsTheSameTarget) {
  PolicyEvaluator evaluator(ServicesSnapshot());
  const auto* by_vip = evaluator.ResolveService({Ip(198, 19, 0, 10), 80});
  ASSERT_NE(by_vip, nullptr);
  EXPECT_EQ(by_vip, evaluator.ResolveServicePort("shop", "web", 80));
  EXPECT_EQ(by_vip->port, 80u);
  EXPECT_TRUE(by_vip->http_declared);
  EXPECT_EQ(evaluator.ResolveService({Ip(198, 19, 0, 10), 8080}), nullptr);  // a target port, not a service port
}

TEST(ServiceLookup, NoSuchServiceOrPortIsNull) {
  PolicyEvaluator evaluator(ServicesSnapshot());
  EXPECT_EQ(evaluator.ResolveServicePort("shop", "web", 8080), nullptr);   // target port
  EXPECT_EQ(evaluator.ResolveServicePort("shop", "web", 53), nullptr);     // UDP
  EXPECT_EQ(evaluator.ResolveServicePort("shop", "db", 5433), nullptr);    // single port: no guessing
  EXPECT_EQ(evaluator.ResolveServicePort("shop", "cache", 80), nullptr);   // no such service
  EXPECT_EQ(evaluator.ResolveServicePort("other", "web", 80), nullptr);    // other namespace
  EXPECT_EQ(evaluator.ResolveServicePort("shop", "we", 80), nullptr);
  EXPECT_NE(evaluator.ResolveServicePort("shop", "db", 5432), nullptr);
}

TEST(ServiceLookup, HeadlessServiceResolvesByNameOnly) {
  PolicyEvaluator evaluator(ServicesSnapshot());
  const auto* peers = evaluator.ResolveServicePort("shop", "peers", 7000);
  ASSERT_NE(peers, nullptr);
  ASSERT_EQ(peers->endpoints.size(), 1u);
  EXPECT_EQ(peers->endpoints[0], (Ipv4Endpoint{Ip(198, 18, 1, 10), 7001}));
  EXPECT_TRUE(peers->http_declared);
}

struct DeclaredRow {
  std::string label;
  std::string port_name;
  std::string app_protocol;
  bool http;
};

void PrintTo(const DeclaredRow& row, std::ostream* os) { *os << row.label; }

class HttpDeclared : public ::testing::TestWithParam<DeclaredRow> {};

TEST_P(HttpDeclared, FromPortNameAndAppProtocol) {
  const DeclaredRow& row = GetParam();
  v1::PolicySnapshot s;
  AddPort(AddService(s, "shop", "svc", "198.19.0.20"), row.port_name, 80, 8080, row.app_protocol);
  PolicyEvaluator evaluator(s);
  const auto* target = evaluator.ResolveServicePort("shop", "svc", 80);
  ASSERT_NE(target, nullptr);
  EXPECT_EQ(target->http_declared, row.http);
  EXPECT_EQ(target->port_name, row.port_name);
  EXPECT_EQ(target->app_protocol, row.app_protocol);
}

INSTANTIATE_TEST_SUITE_P(
    Table, HttpDeclared,
    ::testing::Values(DeclaredRow{"name_http", "http", "", true}, DeclaredRow{"name_http_dash", "http-web", "", true},
                      DeclaredRow{"name_https", "https", "", false}, DeclaredRow{"name_httpx", "httpx", "", false},
                      DeclaredRow{"name_http2", "http2", "", false}, DeclaredRow{"name_tcp", "tcp-db", "", false},
                      DeclaredRow{"unnamed", "", "", false}, DeclaredRow{"app_protocol_http", "", "http", true},
                      DeclaredRow{"app_protocol_upper_case", "web", "HTTP", true},
                      DeclaredRow{"app_protocol_wins_over_name", "http", "tcp", false},
                      DeclaredRow{"app_protocol_h2c", "grpc", "kubernetes.io/h2c", false}),
    [](const ::testing::TestParamInfo<DeclaredRow>& info) { return info.param.label; });

TEST(SplitLookup, ByNamespaceAndRootService) {
  // Written as users write them: the controller normalises root and backends to bare names.
  smi::CompileResult compiled = smi::Compile(smi::ParseManifests(R"(
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: web-canary, namespace: shop}
spec:
  service: web.shop.svc.cluster.local
  backends: [{service: web-v1, weight: 90}, {service: web-v2.shop, weight: 10}]
---
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: other-web, namespace: other}
spec: {service: web, backends: [{service: web-blue, weight: 1}]}
)",
                                                                 "splits.yaml"),
                                             smi::MeshOptions{});
  for (const auto& r : compiled.rejections) ADD_FAILURE() << r.ToString();
  PolicyEvaluator evaluator(std::move(compiled.snapshot));
  const v1::TrafficSplit* shop = evaluator.SplitFor("shop", "web");
  ASSERT_NE(shop, nullptr);
  EXPECT_EQ(shop->name(), "web-canary");
  ASSERT_EQ(shop->backends_size(), 2);
  EXPECT_EQ(shop->backends(0).service(), "web-v1");
  EXPECT_EQ(shop->backends(1).service(), "web-v2");
  EXPECT_EQ(shop->backends(1).weight(), 10u);
  const v1::TrafficSplit* other = evaluator.SplitFor("other", "web");
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->name(), "other-web");
  EXPECT_EQ(evaluator.SplitFor("shop", "web-v1"), nullptr);  // a backend is not a root
  EXPECT_EQ(evaluator.SplitFor("nope", "web"), nullptr);
  EXPECT_EQ(evaluator.SplitFor("shop", "web.shop"), nullptr);  // lookups take the bare name
}

TEST(SplitLookup, DuplicateRootInAHandMadeSnapshotKeepsTheFirst) {
  v1::PolicySnapshot s;
  for (const char* name : {"first", "second"}) {
    v1::TrafficSplit* split = s.add_splits();
    split->set_namespace_("shop");
    split->set_name(name);
    split->set_root_service("web");
  }
  PolicyEvaluator evaluator(s);
  ASSERT_NE(evaluator.SplitFor("shop", "web"), nullptr);
  EXPECT_EQ(evaluator.SplitFor("shop", "web")->name(), "first");
}

}  // namespace
}  // namespace ferry::policy
