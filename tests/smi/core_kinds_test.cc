// The light core kinds the local cluster tool reads: parsed, tested lightly.
#include <gtest/gtest.h>

#include "controlplane/smi/parse.h"

namespace ferry::smi {
namespace {

constexpr const char* kApp = R"(
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels: {ferry.io/mesh: enabled}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: api, namespace: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: api-config, namespace: shop}
data:
  greeting: hello
  port: "8080"
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop, labels: {app: api}}
spec:
  clusterIP: 198.19.0.10
  selector: {app: api}
  ports:
  - name: api-port
    port: 80
    targetPort: 8080
  - name: admin
    port: 9000
    targetPort: admin-port
    appProtocol: http
  - name: dns
    port: 53
    protocol: UDP
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api-v1, namespace: shop}
spec:
  replicas: 2
  selector:
    matchLabels: {app: api, version: v1}
  template:
    metadata:
      labels: {app: api, version: v1}
    spec:
      serviceAccountName: api
      nodeSelector: {ferry.io/node: node-1}
      containers:
      - name: server
        image: busybox
        command: [/bin/sh, -c]
        args: ["exec httpd -f -p 8080"]
        env:
        - {name: VERSION, value: v1}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shop, labels: {app: client}}
spec:
  nodeName: node-2
  containers:
  - name: c
    command: [sleep, infinity]
)";

TEST(SmiParseCoreKinds, ParsesTheLightStructs) {
  ResourceSet set = ParseManifests(kApp, "app.yaml");
  ASSERT_TRUE(set.rejections.empty()) << set.rejections[0].ToString();

  ASSERT_EQ(set.namespaces.size(), 1u);
  EXPECT_EQ(set.namespaces[0].meta.name, "shop");
  EXPECT_TRUE(set.namespaces[0].meta.ns.empty());
  EXPECT_EQ(set.namespaces[0].meta.labels.at("ferry.io/mesh"), "enabled");
  ASSERT_EQ(set.service_accounts.size(), 1u);
  ASSERT_EQ(set.config_maps.size(), 1u);
  EXPECT_EQ(set.config_maps[0].data.at("port"), "8080");

  ASSERT_EQ(set.services.size(), 1u);
  const Service& svc = set.services[0];
  EXPECT_EQ(svc.cluster_ip, "198.19.0.10");
  EXPECT_EQ(svc.selector.at("app"), "api");
  ASSERT_EQ(svc.ports.size(), 3u);
  EXPECT_EQ(svc.ports[0].name, "api-port");
  EXPECT_EQ(svc.ports[0].target_port.number, 8080u);
  EXPECT_EQ(svc.ports[1].target_port.name, "admin-port");
  EXPECT_EQ(svc.ports[1].app_protocol, "http");
  EXPECT_EQ(svc.ports[2].protocol, "UDP");
  EXPECT_EQ(svc.ports[2].target_port.number, 53u);  // defaults to port

  ASSERT_EQ(set.deployments.size(), 1u);
  const Deployment& d = set.deployments[0];
  EXPECT_EQ(d.replicas, 2u);
  EXPECT_EQ(d.selector.at("version"), "v1");
  EXPECT_EQ(d.template_labels.at("app"), "api");
  EXPECT_EQ(d.pod.service_account_name, "api");
  EXPECT_EQ(d.pod.node_selector.at("ferry.io/node"), "node-1");
  ASSERT_TRUE(d.pod.first_container.has_value());
  EXPECT_EQ(d.pod.first_container->command, (std::vector<std::string>{"/bin/sh", "-c"}));
  EXPECT_EQ(d.pod.first_container->args.at(0), "exec httpd -f -p 8080");
  EXPECT_EQ(d.pod.first_container->env.at(0).name, "VERSION");
  EXPECT_EQ(d.pod.first_container->env.at(0).value, "v1");

  ASSERT_EQ(set.pods.size(), 1u);
  EXPECT_EQ(set.pods[0].spec.service_account_name, "default");
  EXPECT_EQ(set.pods[0].spec.node_name, "node-2");
  EXPECT_EQ(set.pods[0].meta.labels.at("app"), "client");
}

TEST(SmiParseCoreKinds, BadServiceIsRejectedWithItsName) {
  ResourceSet set = ParseManifests(R"(
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  ports:
  - {name: web, port: 0}
)", "svc.yaml");
  EXPECT_TRUE(set.services.empty());
  ASSERT_EQ(set.rejections.size(), 1u);
  const std::string text = set.rejections[0].ToString();
  EXPECT_NE(text.find("svc.yaml:2: Service shop/api rejected"), std::string::npos) << text;
  EXPECT_NE(text.find("spec.ports[0].port: port 0 is out of range"), std::string::npos) << text;
}

}  // namespace
}  // namespace ferry::smi
