// Manifests → pods: replicas, placement rules, env from ConfigMaps, mesh membership.
#include <gtest/gtest.h>

#include "local/workloads.h"

namespace ferry::local {
namespace {

std::vector<Manifest> Parse(const std::string& yaml) {
  auto parsed = ParseManifests(yaml, "test.yaml");
  EXPECT_TRUE(parsed.errors.empty()) << parsed.errors.front();
  return parsed.manifests;
}

const PodPlan* Find(const WorkloadPlan& plan, const std::string& key) {
  for (const auto& p : plan.pods)
    if (p.Key() == key) return &p;
  return nullptr;
}

constexpr const char* kApp = R"y(
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {PORT: "8080", MODE: fast}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  replicas: 3
  template:
    metadata: {labels: {app: api}}
    spec:
      serviceAccountName: api-sa
      containers:
      - name: main
        command: ["/bin/server"]
        args: ["--port", "$(PORT)", "$$(literal)"]
        envFrom: [{configMapRef: {name: settings}, prefix: CFG_}]
        env:
        - {name: PORT, valueFrom: {configMapKeyRef: {name: settings, key: PORT}}}
        - {name: GREETING, value: hello}
---
apiVersion: v1
kind: Pod
metadata: {name: single, labels: {app: one}}
spec:
  nodeName: node-2
  containers: [{name: c, command: [sleep, "1"]}]
)y";

TEST(ExpandWorkloads, DeploymentReplicasBecomeNumberedPods) {
  auto plan = ExpandWorkloads(Parse(kApp));
  ASSERT_TRUE(plan.errors.empty()) << plan.errors.front();
  ASSERT_EQ(plan.pods.size(), 4u);
  for (const char* key : {"shop/api-0", "shop/api-1", "shop/api-2", "default/single"})
    EXPECT_NE(Find(plan, key), nullptr) << key;
  const PodPlan* api = Find(plan, "shop/api-1");
  EXPECT_EQ(api->service_account, "api-sa");
  EXPECT_EQ(api->labels.at("app"), "api");
  EXPECT_EQ(api->owner, "Deployment/api");
  EXPECT_EQ(Find(plan, "default/single")->service_account, "default");
}

TEST(ExpandWorkloads, EnvComesFromConfigMapsAndExpandsInArgs) {
  auto plan = ExpandWorkloads(Parse(kApp));
  const PodPlan* api = Find(plan, "shop/api-0");
  ASSERT_NE(api, nullptr);
  EXPECT_EQ(api->env.at("PORT"), "8080");
  EXPECT_EQ(api->env.at("CFG_MODE"), "fast");
  EXPECT_EQ(api->env.at("CFG_PORT"), "8080");
  EXPECT_EQ(api->env.at("GREETING"), "hello");
  EXPECT_EQ(api->argv, (std::vector<std::string>{"/bin/server", "--port", "8080", "$(literal)"}));
}

TEST(ExpandWorkloads, MissingConfigMapRefusesOnlyThatWorkload) {
  auto plan = ExpandWorkloads(Parse(R"y(
apiVersion: v1
kind: Pod
metadata: {name: broken}
spec:
  containers: [{name: c, command: [x], env: [{name: A, valueFrom: {configMapKeyRef: {name: nope, key: k}}}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: optional}
spec:
  containers: [{name: c, command: [x], env: [{name: A, valueFrom: {configMapKeyRef: {name: nope, key: k, optional: true}}}]}]
)y"));
  ASSERT_EQ(plan.errors.size(), 1u);
  EXPECT_NE(plan.errors[0].find("ConfigMap default/nope"), std::string::npos) << plan.errors[0];
  ASSERT_EQ(plan.pods.size(), 1u);
  EXPECT_EQ(plan.pods[0].name, "optional");
  EXPECT_EQ(plan.pods[0].env.count("A"), 0u);
}

TEST(PlacePods, NodeNameSelectorAndSpread) {
  std::vector<PodPlan> pods(5);
  for (size_t i = 0; i < pods.size(); ++i) {
    pods[i].namespace_name = "ns";
    pods[i].name = "p" + std::to_string(i);
  }
  pods[0].node_name = "node-3";
  pods[1].node_selector = {{"kubernetes.io/hostname", "node-3"}};
  std::vector<std::string> errors;
  auto placed = PlacePods(pods, 3, {}, &errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(placed.at("ns/p0"), 3);
  EXPECT_EQ(placed.at("ns/p1"), 3);
  // The rest spread over the emptier nodes first.
  EXPECT_EQ(placed.at("ns/p2"), 1);
  EXPECT_EQ(placed.at("ns/p3"), 2);
  EXPECT_EQ(placed.at("ns/p4"), 1);
}

TEST(PlacePods, KeepsCurrentPlacementAndRejectsUnknownNodes) {
  std::vector<PodPlan> pods(2);
  pods[0].namespace_name = pods[1].namespace_name = "ns";
  pods[0].name = "kept";
  pods[1].name = "lost";
  pods[1].node_name = "node-9";
  std::vector<std::string> errors;
  auto placed = PlacePods(pods, 2, {{"ns/kept", 2}}, &errors);
  EXPECT_EQ(placed.at("ns/kept"), 2);
  EXPECT_EQ(placed.count("ns/lost"), 0u);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("ns/lost"), std::string::npos);
}

TEST(MeshNamespaces, OnlyThoseLabelledForThisMesh) {
  auto resources = Parse(R"y(
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {ferry.sh/monitored-by: ferry}}
---
apiVersion: v1
kind: Namespace
metadata: {name: other, labels: {ferry.sh/monitored-by: another-mesh}}
---
apiVersion: v1
kind: Namespace
metadata: {name: plain}
)y");
  EXPECT_EQ(MeshNamespaces(resources, "ferry"), (std::set<std::string>{"shop"}));
}

TEST(ParseManifests, RefusesUnsupportedKindsAndBadNamesButKeepsTheRest) {
  auto parsed = ParseManifests(R"y(
apiVersion: v1
kind: Secret
metadata: {name: s}
---
apiVersion: v1
kind: Pod
metadata: {name: Bad_Name}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: good}
)y",
                               "in.yaml", "team");
  EXPECT_EQ(parsed.errors.size(), 2u);
  ASSERT_EQ(parsed.manifests.size(), 1u);
  EXPECT_EQ(parsed.manifests[0].Key(), "ServiceAccount/team/good");
  EXPECT_EQ(ScalarOr(parsed.manifests[0].doc["metadata"]["namespace"]), "team");
}

TEST(RenderInventory, ListsWorkloadsAndNodes) {
  auto doc = RenderInventory({{"shop", "api-0", "api", "198.18.1.2", "node-1", {{"app", "api"}}}},
                             {{"node-1", "198.19.0.11"}});
  ASSERT_EQ(doc["workloads"].size(), 1u);
  EXPECT_EQ(doc["workloads"][0]["uid"], "shop/api-0");
  EXPECT_EQ(doc["workloads"][0]["serviceAccount"], "api");
  EXPECT_EQ(doc["workloads"][0]["labels"]["app"], "api");
  EXPECT_EQ(doc["nodes"][0]["ip"], "198.19.0.11");
}

}  // namespace
}  // namespace ferry::local
