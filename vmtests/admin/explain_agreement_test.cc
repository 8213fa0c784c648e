// `ferryctl policy explain` agrees with what real traffic gets, on a two-node `ferryctl local`
// cluster. For every case of the table, the test makes the real connection (ferry-probe connect)
// or HTTP request (ferry-example-app client) inside the source pod, asks explain about the same
// (from, to, port, method, path), and checks both give the expected decision: allow ⇔ connected
// or 2xx, deny ⇔ refused or 403. Allows must name the TrafficTarget that allowed them.
//
//   namespace xpl (in the mesh):
//     client (node-1)  ferry-probe :9000
//     db     (node-1)  ferry-probe :5432 :6379    Service db 5432, 6379   TCPRoute 5432 from client
//     cache  (node-2)  ferry-probe :6379          Service cache 6379      no TrafficTarget
//     web    (node-2)  example api :8080          Service web 80→8080     HTTPRouteGroup GET /api/values from client
//     api-v1 (node-1), api-v2 (node-2)            Services api (root, TrafficSplit 50/50), api-v1, api-v2
//                                                 HTTPRouteGroup any method /api/values from client
//   namespace plain (outside the mesh): outsider (node-2) ferry-probe :8080
#include <gtest/gtest.h>

#include <iostream>
#include <string>
#include <vector>

#include "ferryctl_fixture.h"

namespace ferry::vmtest {
namespace {

const std::string kProbe = FERRY_PROBE_BIN;
const std::string kApp = FERRY_EXAMPLE_APP_BIN;

std::string Deployment(const std::string& ns, const std::string& name, const std::string& app_label,
                       const std::string& node, const std::string& command) {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name + "\n  namespace: " + ns +
         "\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: " + app_label +
         "\n  template:\n    metadata:\n      labels:\n        app: " + app_label +
         "\n    spec:\n      serviceAccountName: " + (ns == "xpl" ? name : std::string("default")) +
         "\n      nodeName: " + node + "\n      containers:\n      - name: main\n        image: local\n" +
         "        command: [\"/bin/sh\", \"-c\", \"" + command + "\"]\n---\n";
}

std::string ServiceAccount(const std::string& name) {
  return "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: " + name + "\n  namespace: xpl\n---\n";
}

// ports: "name:port:target" entries.
std::string Service(const std::string& name, const std::string& selector, std::vector<std::string> ports) {
  std::string out = "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name +
                    "\n  namespace: xpl\nspec:\n  selector:\n    app: " + selector + "\n  ports:\n";
  for (const auto& p : ports) {
    auto a = p.find(':'), b = p.rfind(':');
    out += "  - name: " + p.substr(0, a) + "\n    port: " + p.substr(a + 1, b - a - 1) + "\n    targetPort: " +
           p.substr(b + 1) + "\n";
  }
  return out + "---\n";
}

std::string Apps() {
  std::string out =
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: xpl\n  labels:\n    ferry.sh/monitored-by: ferry\n---\n"
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: plain\n---\n";
  for (const char* sa : {"client", "db", "cache", "web", "api-v1", "api-v2"}) out += ServiceAccount(sa);
  const std::string api = kApp + " api --listen 0.0.0.0:8080";
  out += Deployment("xpl", "client", "client", "node-1", kProbe + " serve --port 9000");
  out += Deployment("xpl", "db", "db", "node-1",
                    kProbe + " serve --port 5432 & " + kProbe + " serve --port 6379 & wait");
  out += Deployment("xpl", "cache", "cache", "node-2", kProbe + " serve --port 6379");
  out += Deployment("xpl", "web", "web", "node-2", api);
  out += Deployment("xpl", "api-v1", "api-v1", "node-1", api);
  out += Deployment("xpl", "api-v2", "api-v2", "node-2", api);
  out += Deployment("plain", "outsider", "outsider", "node-2", kProbe + " serve --port 8080");
  out += Service("db", "db", {"postgres:5432:5432", "redis:6379:6379"});
  out += Service("cache", "cache", {"redis:6379:6379"});
  out += Service("web", "web", {"http:80:8080"});
  out += Service("api", "api-root", {"api-port:80:8080"});
  out += Service("api-v1", "api-v1", {"api-port:80:8080"});
  out += Service("api-v2", "api-v2", {"api-port:80:8080"});
  return out;
}

std::string FromClient(const std::string& name, const std::string& dst_sa, const std::string& kind,
                       const std::string& route) {
  return "apiVersion: access.smi-spec.io/v1alpha3\nkind: TrafficTarget\nmetadata:\n  name: " + name +
         "\n  namespace: xpl\nspec:\n  destination: {kind: ServiceAccount, name: " + dst_sa +
         ", namespace: xpl}\n  sources:\n  - {kind: ServiceAccount, name: client, namespace: xpl}\n  rules:\n"
         "  - {kind: " + kind + ", name: " + route + "}\n---\n";
}

std::string Policy() {
  std::string out =
      "apiVersion: specs.smi-spec.io/v1alpha4\nkind: TCPRoute\nmetadata:\n  name: db-ports\n  namespace: xpl\n"
      "spec:\n  matches:\n    ports: [5432]\n---\n"
      "apiVersion: specs.smi-spec.io/v1alpha3\nkind: HTTPRouteGroup\nmetadata:\n  name: web-routes\n"
      "  namespace: xpl\nspec:\n  matches:\n  - name: values\n    pathRegex: \"/api/values\"\n    methods: [\"GET\"]\n---\n"
      "apiVersion: specs.smi-spec.io/v1alpha3\nkind: HTTPRouteGroup\nmetadata:\n  name: api-routes\n"
      "  namespace: xpl\nspec:\n  matches:\n  - name: values\n    pathRegex: \"/api/values\"\n    methods: [\"*\"]\n---\n"
      "apiVersion: split.smi-spec.io/v1alpha2\nkind: TrafficSplit\nmetadata:\n  name: api-split\n  namespace: xpl\n"
      "spec:\n  service: api\n  backends:\n  - {service: api-v1, weight: 50}\n  - {service: api-v2, weight: 50}\n---\n";
  out += FromClient("db-from-client", "db", "TCPRoute", "db-ports");
  out += FromClient("web-from-client", "web", "HTTPRouteGroup", "web-routes");
  out += FromClient("api-v1-from-client", "api-v1", "HTTPRouteGroup", "api-routes");
  out += FromClient("api-v2-from-client", "api-v2", "HTTPRouteGroup", "api-routes");
  return out;
}

struct Case {
  const char* what;
  std::string from;    // NS/deploy/NAME
  std::string to;      // --to as written for explain
  std::string target;  // what the real client dials: HOST:PORT (probe) or a URL (HTTP)
  std::string method, path;  // empty: a TCP connection
  bool allow;
  std::string traffic_target;  // for an allow through the mesh: (part of) the TrafficTarget named
};

class ExplainAgreementTest : public FerryctlFixture {
 protected:
  ExplainAgreementTest() { deploy_shop_ = false; }

  std::string PodIp(const std::string& prefix) { return PodByName(prefix).value("ip", ""); }
  static std::pair<std::string, std::string> NsAndPod(const std::string& from) {
    auto slash = from.find('/');
    return {from.substr(0, slash), from.substr(slash + 1)};
  }

  // The real outcome: true when connected (probe) or answered 2xx (HTTP), with what was seen.
  std::pair<bool, std::string> Real(const Case& c) {
    auto [ns, pod] = NsAndPod(c.from);
    if (c.method.empty()) {
      auto r = ExecJson(ns, pod, kProbe, {"connect", "--to", c.target, "--timeout-ms", "2000"});
      std::string outcome = r.value("outcome", "no-output");
      return {outcome == "ok", outcome};
    }
    auto r = ExecJson(ns, pod, kApp,
                      {"client", "--url", c.target + c.path, "--count", "1", "--method", c.method,
                       "--connect-timeout-ms", "2000", "--timeout-ms", "3000"});
    int ok = 0;
    if (r.contains("status"))
      for (const auto& [code, n] : r["status"].items())
        if (code.size() == 3 && code[0] == '2') ok += n.get<int>();
    return {ok == 1, r.dump()};
  }

  nlohmann::json Explain(const Case& c) {
    std::vector<std::string> args = {"policy", "explain", "--from", c.from, "--to", c.to, "-o", "json"};
    if (!c.method.empty()) args.insert(args.end(), {"--method", c.method, "--path", c.path});
    auto r = Ctl(args, std::chrono::seconds(30));
    EXPECT_EQ(r.exit_code, 0) << c.what << ": " << r.output << r.errors;
    auto doc = nlohmann::json::parse(r.output, nullptr, false);
    return doc.is_object() ? doc : nlohmann::json::object();
  }

  void DeployAndWaitForPolicy() {
    auto apps = Ctl({"local", "apply", "-f", WriteManifest("apps", Apps())});
    ASSERT_EQ(apps.exit_code, 0) << apps.output << apps.errors;
    auto policy = Ctl({"local", "apply", "-f", WriteManifest("policy", Policy())});
    ASSERT_EQ(policy.exit_code, 0) << policy.output << policy.errors;
    // Every server listens (asked from inside its own pod, which the mesh does not intercept) and
    // the policy reached both agents (one allow per TrafficTarget, across both nodes).
    auto listening = [&](const char* ns, const char* pod, const char* port) {
      return ExecJson(ns, pod, kProbe, {"connect", "--to", std::string("127.0.0.1:") + port}).value("outcome", "") == "ok";
    };
    ASSERT_TRUE(WaitFor([&] {
      return listening("xpl", "deploy/db", "5432") && listening("xpl", "deploy/cache", "6379") &&
             listening("xpl", "deploy/web", "8080") && listening("xpl", "deploy/api-v1", "8080") &&
             listening("xpl", "deploy/api-v2", "8080") && listening("plain", "deploy/outsider", "8080");
    }, std::chrono::seconds(30))) << "apps did not come up";
    ASSERT_TRUE(WaitFor([&] {
      return Real({"", "xpl/deploy/client", "", "db:5432", "", "", true, ""}).first &&
             Real({"", "xpl/deploy/client", "", "http://web", "GET", "/api/values", true, ""}).first &&
             Real({"", "xpl/deploy/client", "", "http://api-v1", "GET", "/api/values", true, ""}).first &&
             Real({"", "xpl/deploy/client", "", "http://api-v2", "GET", "/api/values", true, ""}).first;
    }, std::chrono::seconds(30))) << "the TrafficTargets did not take effect";
  }

  std::vector<Case> Table() {
    const std::string db = PodIp("db-"), cache = PodIp("cache-"), web = PodIp("web-"), client = PodIp("client-"),
                      outsider = PodIp("outsider-");
    const std::string c = "xpl/deploy/client";
    return {
        {"TCPRoute port, service, same node", c, "xpl/db:5432", "db:5432", "", "", true, "xpl/db-from-client"},
        {"TCPRoute other port, service", c, "xpl/db:6379", "db:6379", "", "", false, ""},
        {"TCPRoute port, pod IP", c, "xpl/deploy/db:5432", db + ":5432", "", "", true, "xpl/db-from-client"},
        {"TCPRoute other port, pod IP", c, "xpl/deploy/db:6379", db + ":6379", "", "", false, ""},
        {"no TrafficTarget, service (its only port), cross-node", c, "xpl/cache", "cache:6379", "", "", false, ""},
        {"no TrafficTarget, pod, cross-node", c, "xpl/deploy/cache:6379", cache + ":6379", "", "", false, ""},
        {"no TrafficTarget, pod, same node", "xpl/deploy/db", "xpl/deploy/client:9000", client + ":9000", "", "",
         false, ""},
        {"source not listed, cross-node", "xpl/deploy/cache", "xpl/db:5432", "db:5432", "", "", false, ""},
        {"non-mesh destination: egress pass-through", c, "plain/deploy/outsider:8080", outsider + ":8080", "", "",
         true, ""},
        {"namespace outside the mesh -> mesh pod, cross-node", "plain/deploy/outsider", "xpl/deploy/db:5432",
         db + ":5432", "", "", false, ""},
        {"namespace outside the mesh -> mesh pod, same node", "plain/deploy/outsider", "xpl/deploy/cache:6379",
         cache + ":6379", "", "", false, ""},
        {"HTTPRouteGroup path allowed, cross-node", c, "xpl/web", "http://web", "GET", "/api/values", true,
         "xpl/web-from-client"},
        {"HTTPRouteGroup path denied", c, "xpl/web", "http://web", "GET", "/admin", false, ""},
        {"HTTPRouteGroup method denied", c, "xpl/web", "http://web", "POST", "/api/values", false, ""},
        {"HTTPRouteGroup, pod IP, allowed", c, "xpl/deploy/web:8080", "http://" + web + ":8080", "GET",
         "/api/values", true, "xpl/web-from-client"},
        {"HTTPRouteGroup, pod IP, method denied", c, "xpl/deploy/web:8080", "http://" + web + ":8080", "DELETE",
         "/api/values", false, ""},
        {"HTTPRouteGroup, source not listed, same node", "xpl/deploy/cache", "xpl/web", "http://web.xpl", "GET",
         "/api/values", false, ""},
        {"TrafficSplit root, allowed on every backend", c, "xpl/api", "http://api", "GET", "/api/values", true,
         "api-v1-from-client"},
        {"TrafficSplit root, path denied on every backend", c, "xpl/api", "http://api", "GET", "/admin", false, ""},
        {"split backend, same node, any method", c, "xpl/api-v1", "http://api-v1", "PUT", "/api/values", true,
         "xpl/api-v1-from-client"},
        {"split backend, cross-node, any method", c, "xpl/api-v2", "http://api-v2", "POST", "/api/values", true,
         "xpl/api-v2-from-client"},
        {"split backend, cross-node, path denied", c, "xpl/api-v2", "http://api-v2", "GET", "/other", false, ""},
        {"namespace outside the mesh -> HTTP pod", "plain/deploy/outsider", "xpl/deploy/web:8080",
         "http://" + web + ":8080", "GET", "/api/values", false, ""},
    };
  }
};

TEST_F(ExplainAgreementTest, ExplainAgreesWithRealTrafficAndExplainsItself) {
  ASSERT_NO_FATAL_FAILURE(DeployAndWaitForPolicy());
  auto table = Table();
  ASSERT_GE(table.size(), 20u);
  for (const Case& c : table) {
    SCOPED_TRACE(std::string(c.what) + ": --from " + c.from + " --to " + c.to + " " + c.method + " " + c.path);
    auto [connected, seen] = Real(c);
    auto answer = Explain(c);
    std::string decision = answer.value("decision", "(no answer)");
    std::cerr << (connected ? "connected " : "refused   ") << decision << "\t" << c.what << "\n";
    EXPECT_EQ(connected, c.allow) << "real traffic: " << seen;
    EXPECT_EQ(decision, c.allow ? "allow" : "deny") << answer.dump(2);
    EXPECT_EQ(decision == "allow", connected) << "explain and real traffic disagree: " << seen << "\n" << answer.dump(2);
    if (c.allow && !c.traffic_target.empty()) {
      EXPECT_NE(answer.value("trafficTarget", "").find(c.traffic_target), std::string::npos) << answer.dump(2);
    }
    if (c.allow && c.traffic_target.empty()) {  // no TrafficTarget applies outside the mesh
      EXPECT_EQ(answer.value("trafficTarget", "x"), "") << answer.dump(2);
    }
  }

  // The same cluster (one `local up` keeps the test short): the text form and the errors.
  auto allow = Ctl({"policy", "explain", "--from", "xpl/deploy/client", "--to", "xpl/db:5432"});
  ASSERT_EQ(allow.exit_code, 0) << allow.errors;
  EXPECT_EQ(allow.output.rfind("allow: ", 0), 0u) << allow.output;
  EXPECT_NE(allow.output.find("xpl/db-from-client"), std::string::npos) << allow.output;
  EXPECT_NE(allow.output.find("TCPRoute db-ports"), std::string::npos) << allow.output;

  auto needs = Ctl({"policy", "explain", "--from", "xpl/deploy/client", "--to", "xpl/web"});
  EXPECT_EQ(needs.output.rfind("needs-request: ", 0), 0u) << needs.output << needs.errors;
  auto split = Ctl({"policy", "explain", "--from", "xpl/deploy/client", "--to", "xpl/api", "--path", "/api/values"});
  EXPECT_EQ(split.output.rfind("allow: ", 0), 0u) << split.output << split.errors;
  std::cerr << allow.output << "\n" << needs.output << "\n" << split.output;  // what a user sees, in the log

  auto yaml = Ctl({"policy", "explain", "--from", "xpl/deploy/client", "--to", "xpl/api", "--path", "/api/values",
                   "-o", "yaml"});
  EXPECT_NE(yaml.output.find("trafficSplit: \"xpl/api-split\""), std::string::npos) << yaml.output << yaml.errors;

  auto ports = Ctl({"policy", "explain", "--from", "xpl/deploy/client", "--to", "xpl/db"});
  EXPECT_NE(ports.exit_code, 0);
  EXPECT_NE(ports.errors.find("several ports: 5432 (postgres), 6379 (redis)"), std::string::npos) << ports.errors;
  auto no_port = Ctl({"policy", "explain", "--from", "xpl/deploy/client", "--to", "xpl/deploy/db"});
  EXPECT_NE(no_port.errors.find("give the port"), std::string::npos) << no_port.errors;
  auto missing = Ctl({"policy", "explain", "--from", "xpl/nope", "--to", "xpl/db:5432"});
  EXPECT_NE(missing.errors.find("pod nope not found in namespace xpl"), std::string::npos) << missing.errors;
}

}  // namespace
}  // namespace ferry::vmtest
