// HTTP in the mesh, end to end on a two-node `ferryctl local` cluster, with the example apps and
// manifests exactly as shipped in examples/ (the getting-started walkthrough):
//   simple-app: frontend (node-1) -> api (node-2): HTTPRouteGroup rules per request, on one
//               keep-alive connection, enforced by the destination's agent behind the tunnel;
//   canary-app: frontend (node-1) -> root service api, TrafficSplit 90/10 over api-v1 (node-1,
//               same node) and api-v2 (node-2, across the tunnel), per request.
// The requests are made by `ferry-example-app client` inside the pods, which reports what it got.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <future>
#include <string>
#include <thread>

#include "ferryctl_fixture.h"
#include "metrics/metrics_text.h"

namespace ferry::vmtest {
namespace {

const std::string kExamples = std::string(FERRY_SOURCE_DIR) + "/examples/";
const std::string kV1Body = R"(["Value 1","Value 2","Value 3"])";
const std::string kV2Body = R"(["Value 4","Value 5","Value 6"])";

class HttpE2eTest : public FerryctlFixture {
 protected:
  HttpE2eTest() {
    deploy_shop_ = false;
    extra_up_args_ = {"--access-log"};
  }

  void SetUp() override {
    // The manifests run `ferry-example-app` by name, as an operator's PATH would find it.
    std::string dir = std::filesystem::path(FERRY_EXAMPLE_APP_BIN).parent_path();
    const char* path = std::getenv("PATH");
    setenv("PATH", (dir + ":" + (path ? path : "/usr/bin:/bin")).c_str(), 1);
    FerryctlFixture::SetUp();
  }

  void Apply(const std::string& file) {
    auto r = Ctl({"local", "apply", "-f", kExamples + file});
    ASSERT_EQ(r.exit_code, 0) << file << ": " << r.output << r.errors;
  }

  // `ferry-example-app client` in a pod: its JSON report.
  nlohmann::json Client(const std::string& ns, const std::string& url, std::vector<std::string> extra = {},
                        std::chrono::seconds timeout = std::chrono::seconds(120)) {
    std::vector<std::string> args = {"client", "--url", url};
    args.insert(args.end(), extra.begin(), extra.end());
    return ExecJson(ns, "deploy/frontend", FERRY_EXAMPLE_APP_BIN, args, timeout);
  }
  // The access log lines of a node's agent (`local up --access-log`).
  std::vector<nlohmann::json> AccessLog(const std::string& node) {
    std::vector<nlohmann::json> lines;
    std::ifstream in(state_ + "/" + node + "/access.log");
    for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line, nullptr, false));
    return lines;
  }
  static int CountLines(const std::vector<nlohmann::json>& lines, const nlohmann::json& match) {
    int n = 0;
    for (const auto& line : lines) {
      bool all = line.is_object();
      for (const auto& [key, value] : match.items()) all = all && line.contains(key) && line[key] == value;
      n += all ? 1 : 0;
    }
    return n;
  }
  static int Count(const nlohmann::json& report, const char* field, const std::string& key) {
    return report.contains(field) ? report[field].value(key, 0) : 0;
  }

  // The agent's Prometheus text, fetched inside the node's netns (its :15020 listens on the
  // node's underlay address there).
  std::string ScrapeMetrics(const std::string& node_netns) {
    local::SpawnOptions o;
    o.argv = {"ip", "netns", "exec", node_netns, FERRY_EXAMPLE_APP_BIN, "client", "--url",
              "http://198.19.0.11:15020/metrics", "--count", "1", "--print-body"};
    auto r = local::RunCommand(o, std::chrono::seconds(30));
    return r.ok() ? r->output : std::string();
  }
  // `promtool check metrics` (Debian's prometheus package, installed by scripts/setup.sh).
  local::CommandResult PromtoolCheck(const std::string& text) {
    std::string file = state_ + "-scrape.txt";
    std::ofstream(file) << text.substr(0, text.rfind("\n{") == std::string::npos ? text.size() : text.rfind("\n{") + 1);
    local::SpawnOptions o;
    o.argv = {"/bin/sh", "-c", "promtool check metrics < '" + file + "' 2>&1"};
    auto r = local::RunCommand(o, std::chrono::seconds(30));
    std::filesystem::remove(file);
    if (!r.ok()) return local::CommandResult{-1, r.error().Message(), ""};
    return *r;
  }

  // Waits until one GET of `url` from the namespace's frontend answers 200 with `body`.
  void WaitForValues(const std::string& ns, const std::string& url, const std::string& body, const char* what) {
    auto took = WaitFor(
        [&] {
          auto r = Client(ns, url, {"--count", "1"});
          return Count(r, "status", "200") == 1 && Count(r, "bodies", body) == 1;
        },
        std::chrono::seconds(30));
    ASSERT_TRUE(took) << what << ": last report " << Client(ns, url, {"--count", "1"}).dump();
    std::cerr << what << " after " << took->count() << " ms\n";
  }
};

TEST_F(HttpE2eTest, SimpleAppRoutesAreEnforcedPerRequestOnOneKeepAliveConnection) {
  Apply("simple-app/00-namespace.yaml");
  Apply("simple-app/10-apps.yaml");
  const std::string url = "http://api.simple-app/api/values";
  // The api listens (checked from inside its own pod, which the mesh does not intercept).
  ASSERT_TRUE(WaitFor([&] {
    return ExecJson("simple-app", "deploy/api", FERRY_EXAMPLE_APP_BIN,
                    {"client", "--url", "http://127.0.0.1:8080/api/values", "--count", "1"})
               .value("requests", 0) == 1;
  }, std::chrono::seconds(30)));

  // No TrafficTarget: nothing gets through.
  auto denied = Client("simple-app", url, {"--count", "1"});
  EXPECT_EQ(Count(denied, "status", "200"), 0) << denied.dump();

  Apply("simple-app/20-access.yaml");
  WaitForValues("simple-app", url, kV1Body, "TrafficTarget + HTTPRouteGroup applied");

  // One connection, paths in turn: only the full match of /api/values passes, whatever the
  // spelling; every refusal is a 403 and the connection stays usable.
  auto mixed = Client("simple-app", "http://api.simple-app",
                      {"--paths", "/api/values,/admin,/api/values/1,/api/valuesX,/api/values/%2e%2e/admin,"
                                  "//api//values,/api/./values,/api/values?x=1",
                       "--count", "16"});
  EXPECT_EQ(mixed.value("connections", 0), 1) << mixed.dump();
  EXPECT_EQ(mixed.value("errors", -1), 0) << mixed.dump();
  auto by_path = mixed["by_path"];
  for (const char* allowed : {"/api/values", "//api//values", "/api/./values", "/api/values?x=1"})
    EXPECT_EQ(by_path[allowed].value("200", 0), 2) << allowed << ": " << mixed.dump();
  for (const char* refused : {"/admin", "/api/values/1", "/api/valuesX", "/api/values/%2e%2e/admin"})
    EXPECT_EQ(by_path[refused].value("403", 0), 2) << refused << ": " << mixed.dump();

  // The destination's agent logged each request with both identities and its decision. The
  // client is named by workload although it came through the tunnel (its certificate's identity
  // is that of one workload only).
  auto logged = AccessLog("node-2");
  nlohmann::json frontend = {{"workload", "frontend"}, {"namespace", "simple-app"}, {"principal", "frontend"}};
  EXPECT_GE(CountLines(logged, {{"type", "request"}, {"path", "/admin"}, {"status", 403}, {"decision", "deny"},
                                {"source", frontend}}), 2)
      << logged.size() << " lines";
  EXPECT_GE(CountLines(logged, {{"type", "request"}, {"path", "/api/values"}, {"status", 200}, {"decision", "allow"},
                                {"reporter", "destination"}, {"source", frontend}}), 2);
  // The refused attempt before any TrafficTarget was logged as a refusal by someone: the
  // destination's agent refuses the tunnel request (policy), or its router the request.
  EXPECT_GE(CountLines(logged, {{"decision", "deny"}}), 1);

  // A GET-only rule: POST is refused, GET still passes, on one connection.
  Apply("simple-app/variants/route-get-only.yaml");
  auto took = WaitFor([&] {
    auto post = Client("simple-app", url, {"--count", "1", "--method", "POST"});
    return Count(post, "status", "403") == 1;
  }, std::chrono::seconds(30));
  ASSERT_TRUE(took) << "POST still allowed after the GET-only HTTPRouteGroup";
  auto methods = Client("simple-app", url, {"--count", "6", "--methods", "GET,POST,DELETE"});
  EXPECT_EQ(methods.value("connections", 0), 1) << methods.dump();
  EXPECT_EQ(Count(methods, "status", "200"), 2) << methods.dump();
  EXPECT_EQ(Count(methods, "status", "403"), 4) << methods.dump();

  // The frontend's page shows what it fetched from api over its own keep-alive connection.
  auto page = ExecText("simple-app", "deploy/frontend", FERRY_EXAMPLE_APP_BIN,
                       {"client", "--url", "http://127.0.0.1:8080/", "--count", "1", "--print-body"});
  EXPECT_NE(page.find("Value 1"), std::string::npos) << page;
}

TEST_F(HttpE2eTest, WhereHttpRulesApplyOtherProtocolsAreRefused) {
  Apply("simple-app/00-namespace.yaml");
  Apply("simple-app/10-apps.yaml");
  Apply("simple-app/20-access.yaml");
  WaitForValues("simple-app", "http://api.simple-app/api/values", kV1Body, "simple-app allowed");
  // Not HTTP: the connection ends without a byte of the api's.
  auto raw = ExecJson("simple-app", "deploy/frontend", FERRY_PROBE_BIN,
                      {"send", "--to", "api.simple-app:80", "--bytes", "4096", "--marker", "HELLO-NOT-HTTP"});
  EXPECT_EQ(raw.value("received", -1), 0) << raw.dump();
  EXPECT_NE(raw.value("outcome", ""), "ok") << raw.dump();
  // HTTP/2 with prior knowledge: refused, never passed unchecked.
  auto h2 = ExecJson("simple-app", "deploy/frontend", FERRY_PROBE_BIN,
                     {"send", "--to", "api.simple-app:80", "--bytes", "4096", "--marker",
                      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"});
  EXPECT_EQ(h2.value("received", -1), 0) << h2.dump();
  EXPECT_NE(h2.value("outcome", ""), "ok") << h2.dump();
}

TEST_F(HttpE2eTest, CanarySplitIsPerRequestAndWeightChangesKeepTheConnection) {
  for (const char* file : {"canary-app/00-namespace.yaml", "canary-app/10-apps.yaml", "canary-app/20-access.yaml",
                           "canary-app/30-split.yaml"})
    Apply(file);
  const std::string url = "http://api.canary-app/api/values";
  WaitForValues("canary-app", url, kV1Body, "canary split applied");
  // Both backends answer (api-v2 is across the tunnel: the source needs its certificate first).
  auto ready = WaitFor([&] {
    auto r = Client("canary-app", url, {"--count", "20"});
    return Count(r, "status", "200") == 20 && Count(r, "bodies", kV2Body) > 0;
  }, std::chrono::seconds(30));
  ASSERT_TRUE(ready) << Client("canary-app", url, {"--count", "20"}).dump();

  // 1000 requests on one keep-alive connection: v2's share within the binomial 99.9 % band.
  auto split = Client("canary-app", url, {"--count", "1000"});
  int v1 = Count(split, "bodies", kV1Body), v2 = Count(split, "bodies", kV2Body);
  EXPECT_EQ(split.value("connections", 0), 1) << split.dump();
  EXPECT_EQ(v1 + v2, 1000) << split.dump();
  double sd = std::sqrt(1000 * 0.1 * 0.9);
  EXPECT_LE(std::abs(v2 - 100), 3.29 * sd) << "v1 " << v1 << " v2 " << v2;
  std::cerr << "90/10 split over 1000 requests on one connection: v1 " << v1 << ", v2 " << v2 << "\n";

  // node-1's agent counted those requests (it is the source of all of them): its :15020 scrape,
  // read from inside the node's netns where it listens, passes promtool and names the backends.
  std::string scrape = ScrapeMetrics("ferry-node-1");
  ASSERT_NE(scrape.find("# TYPE ferry_requests_total counter"), std::string::npos) << scrape.substr(0, 2000);
  using metrics::testing::SumSamples;
  EXPECT_GT(SumSamples(scrape, "ferry_requests_total",
                       {"reporter=\"source\"", "destination_workload=\"api-v2\"", "response_code=\"200\""}),
            0)
      << scrape.substr(0, 4000);
  EXPECT_GT(SumSamples(scrape, "ferry_requests_total", {"destination_workload=\"api-v1\"", "response_code=\"200\""}), 0);
  auto check = PromtoolCheck(scrape);
  EXPECT_EQ(check.exit_code, 0) << check.output;

  // Weights to 0/100 while a client keeps one connection busy: later requests all go to v2 and
  // the client's connection is never reset.
  auto running = std::async(std::launch::async, [&] {
    return Client("canary-app", url, {"--count", "400", "--interval-ms", "25", "--tail", "100"});
  });
  std::this_thread::sleep_for(std::chrono::seconds(3));
  Apply("canary-app/variants/split-v2-only.yaml");
  auto moved = running.get();
  EXPECT_EQ(moved.value("connections", 0), 1) << moved.dump();
  EXPECT_EQ(moved.value("errors", -1), 0) << moved.dump();
  EXPECT_EQ(Count(moved, "tail_bodies", kV2Body), 100) << moved.dump();
  EXPECT_GT(Count(moved, "bodies", kV1Body), 0) << "the change came before the client started: " << moved.dump();
}

}  // namespace
}  // namespace ferry::vmtest
