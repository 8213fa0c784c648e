// The agent's operator endpoints on a real two-node local cluster: `ferryctl proxy get` reaches
// each node's debug endpoint (127.0.0.1:15000 inside the node's network namespace) and shows the
// pods and identities the node serves, readiness and metrics answer inside the node, and no pod
// — in the mesh or outside it — can reach any of those ports.
#include <gtest/gtest.h>

#include "ferryctl_fixture.h"

namespace ferry::vmtest {
namespace {

using nlohmann::json;

constexpr const char* kNode1Gateway = "198.18.1.1";   // node-1's CNI bridge, the pods' gateway
constexpr const char* kNode1Underlay = "198.19.0.11";  // node-1 on the underlay
constexpr const char* kNode2Underlay = "198.19.0.12";

class DebugEndpointTest : public FerryctlFixture {
 protected:
  void SetUp() override {
    FerryctlFixture::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    // A pod outside the mesh: nothing redirects its connections, so it sees the raw network.
    auto apply = Ctl({"local", "apply", "-f", WriteManifest("plain", PlainNamespace())});
    ASSERT_EQ(apply.exit_code, 0) << apply.output << apply.errors;
    ASSERT_TRUE(WaitFor([&] {
      return ExecJson("plain", "deploy/outsider", FERRY_PROBE_BIN, {"connect", "--to", "127.0.0.1:8080"})
                 .value("outcome", "") == "ok";
    })) << "the outsider pod did not come up";
  }

  static std::string PlainNamespace() {
    return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: plain\n---\n"
           "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: outsider\n  namespace: plain\nspec:\n"
           "  replicas: 1\n  selector:\n    matchLabels:\n      app: outsider\n  template:\n    metadata:\n"
           "      labels:\n        app: outsider\n    spec:\n      nodeName: node-1\n      containers:\n"
           "      - name: main\n        image: local\n        command: [\"" FERRY_PROBE_BIN "\", \"serve\", \"--port\", \"8080\"]\n";
  }

  // `ferryctl proxy get WHAT TARGET -n shop -o json`, parsed.
  json ProxyGet(const std::string& what, const std::string& target) {
    auto r = Ctl({"proxy", "get", what, target, "-n", "shop"});
    EXPECT_EQ(r.exit_code, 0) << r.output << r.errors;
    auto doc = json::parse(r.output, nullptr, false);
    return doc.is_discarded() ? json::object() : doc;
  }

  // The HTTP status curl gets for `url` from inside a pod; "000" when it could not connect.
  std::string CurlFromPod(const std::string& ns, const std::string& pod, const std::string& url) {
    std::string out = ExecText(ns, pod, "/usr/bin/curl",
                               {"-s", "-o", "/dev/null", "-m", "3", "-w", "%{http_code}", url});
    return out.empty() ? "000" : out;
  }

  // The same from inside a node's own network namespace (where the endpoints live).
  std::string CurlInNode(const std::string& netns, const std::string& url, std::string* body = nullptr) {
    local::SpawnOptions o;
    o.argv = {"ip", "netns", "exec", netns, "/usr/bin/curl", "-s", "-m", "5", "-w", "\n%{http_code}", url};
    auto r = local::RunCommand(o, std::chrono::seconds(20));
    if (!r.ok()) return "error: " + r.error().Message();
    auto nl = r->output.rfind('\n');
    if (body) *body = r->output.substr(0, nl == std::string::npos ? 0 : nl);
    return nl == std::string::npos ? r->output : r->output.substr(nl + 1);
  }

  std::string NodeNetns(const std::string& node) {
    auto r = Ctl({"local", "get", "nodes", "-o", "json"});
    auto doc = json::parse(r.output, nullptr, false);
    if (doc.is_array())
      for (const auto& n : doc)
        if (n.value("name", "") == node) return n.value("netns", "");
    return "";
  }
};

TEST_F(DebugEndpointTest, ProxyGetShowsTheNodesPodsIdentitiesAndPolicy) {
  json api = PodByName("api");
  ASSERT_FALSE(api.empty());

  // workloads, through a pod's deployment: the answer comes from node-1's agent and names the pod.
  json workloads = ProxyGet("workloads", "deploy/api");
  EXPECT_EQ(workloads.value("node", ""), "node-1");
  bool found = false;
  for (const auto& w : workloads.value("workloads", json::array()))
    if (w.value("name", "") == api.value("name", "")) {
      found = true;
      EXPECT_EQ(w.value("namespace", ""), "shop");
      EXPECT_EQ(w.value("ip", ""), api.value("ip", ""));
      EXPECT_TRUE(w.value("enrolled", false));
    }
  EXPECT_TRUE(found) << workloads.dump(2);
  // node-2's agent serves worker, not api.
  std::string on_node2 = ProxyGet("workloads", "node-2").dump();
  EXPECT_NE(on_node2.find("\"worker"), std::string::npos) << on_node2;
  EXPECT_EQ(on_node2.find(api.value("name", "?")), std::string::npos) << on_node2;

  // certs: the api workload's SPIFFE identity, with a serial and an expiry, and never a key.
  const std::string api_id = "spiffe://cluster.local/ns/shop/sa/api";
  json certs;
  EXPECT_TRUE(WaitFor([&] {
    certs = ProxyGet("certs", "deploy/api");
    for (const auto& c : certs.value("certificates", json::array()))
      if (c.value("spiffeId", "") == api_id && !c.value("serial", "").empty() && c.value("notAfter", 0) > 0) return true;
    return false;
  }, std::chrono::seconds(30))) << certs.dump(2);
  EXPECT_EQ(certs.dump().find("PRIVATE KEY"), std::string::npos);

  // config_dump: the controller's snapshot, ACKed, with the api workload in it.
  json dump = ProxyGet("config_dump", "node-1");
  EXPECT_GT(dump.value("version", 0), 0) << dump.dump(2);
  EXPECT_EQ(dump["ack"].value("mode", ""), "controller");
  EXPECT_NE(dump["snapshot"].dump().find(api.value("name", "?")), std::string::npos);

  // connections as a table, and a helpful error for a pod that does not exist.
  auto table = Ctl({"proxy", "get", "connections", "node-1", "-o", "table"});
  EXPECT_EQ(table.exit_code, 0) << table.errors;
  EXPECT_EQ(table.output.rfind("SOURCE", 0), 0u) << table.output;
  auto missing = Ctl({"proxy", "get", "workloads", "nosuchpod", "-n", "shop"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.errors.find("nosuchpod"), std::string::npos) << missing.errors;
}

TEST_F(DebugEndpointTest, ReadinessAndMetricsAnswerInsideTheNode) {
  std::string netns = NodeNetns("node-1");
  ASSERT_FALSE(netns.empty());
  // `ferryctl local up` puts metrics and readiness on the node's underlay address, where the
  // host's Prometheus scrapes them (the debug port stays on loopback).
  EXPECT_EQ(CurlInNode(netns, std::string("http://") + kNode1Underlay + ":15021/healthz/ready"), "200");
  std::string metrics;
  EXPECT_EQ(CurlInNode(netns, std::string("http://") + kNode1Underlay + ":15020/metrics", &metrics), "200");
  EXPECT_NE(metrics.find("# TYPE ferry_"), std::string::npos) << metrics.substr(0, 500);
  EXPECT_EQ(CurlInNode(netns, "http://127.0.0.1:15000/nope"), "404");
}

TEST_F(DebugEndpointTest, NoPodCanReachTheAgentsPorts) {
  // The endpoint is there (seen from the node)...
  ASSERT_EQ(Ctl({"proxy", "get", "certs", "node-1"}).exit_code, 0);
  // ...but from a pod, neither its own loopback nor any address of the node leads to it, whether
  // the pod is in the mesh (connections redirected through the agent) or not.
  struct From {
    const char* ns;
    const char* pod;
  };
  for (From from : {From{"shop", "deploy/frontend"}, From{"plain", "deploy/outsider"}}) {
    for (const char* host : {"127.0.0.1", kNode1Gateway, kNode1Underlay, kNode2Underlay}) {
      for (const char* port : {"15000", "15020", "15021"}) {
        // Metrics and readiness on the node's underlay address are the scrape targets: read-only
        // and reachable like a node's kubelet or exporters (for a meshed pod the node is a
        // non-mesh destination, passed through). The debug port never is.
        bool scrape_target = std::string(port) != "15000" && host != std::string("127.0.0.1") && host != std::string(kNode1Gateway);
        if (scrape_target) continue;
        std::string url = std::string("http://") + host + ":" + port + "/certs";
        EXPECT_EQ(CurlFromPod(from.ns, from.pod, url), "000") << from.ns << "/" << from.pod << " reached " << url;
      }
    }
  }
  // The outsider reaches node-1 itself (a refusal, not silence): the port is closed, not filtered.
  json refused = ExecJson("plain", "deploy/outsider", FERRY_PROBE_BIN,
                          {"connect", "--to", std::string(kNode1Gateway) + ":15000", "--timeout-ms", "2000"});
  EXPECT_EQ(refused.value("outcome", ""), "refused") << refused.dump();
}

}  // namespace
}  // namespace ferry::vmtest
