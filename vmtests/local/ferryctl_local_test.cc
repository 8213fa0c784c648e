// `ferryctl local` end to end, as a user drives it: up with two nodes, apply a namespace, two
// deployments and services, look at pods, exec into them, reach a pod on the other node over the
// underlay, refuse a second cluster, and leave nothing behind on down.
//
// One cluster serves the whole suite (creating one takes seconds); the tests run in order and the
// last one takes it down. The agents follow the controller (the default mode), which learns the
// namespaces' mesh labels from the stored manifests; ferry-cni enrolls pods with their agents.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "local/cgroup.h"
#include "local/process.h"
#include "privileged.h"

namespace ferry::vmtest {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string StateDir() { return "/tmp/ferry-ctlvm-" + std::to_string(getpid()); }

local::CommandResult Ferryctl(std::vector<std::string> args, const std::string& state = StateDir()) {
  local::SpawnOptions o;
  o.argv = {FERRYCTL_BIN};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.argv.insert(o.argv.end(), {"--state", state});
  auto r = local::RunCommand(o, std::chrono::seconds(60));
  if (!r.ok()) {
    ADD_FAILURE() << "ferryctl: " << r.error().Message();
    return {};
  }
  return *r;
}

// `ferryctl local exec` puts the command after `--`, which must come after the options.
local::CommandResult Exec(const std::string& ns, const std::string& pod, std::vector<std::string> command) {
  std::vector<std::string> args = {"local", "exec", "--state", StateDir(), "-n", ns, pod, "--"};
  args.insert(args.end(), command.begin(), command.end());
  local::SpawnOptions o;
  o.argv = {FERRYCTL_BIN};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  auto r = local::RunCommand(o, std::chrono::seconds(60));
  if (!r.ok()) ADD_FAILURE() << r.error().Message();
  return r.ok() ? *r : local::CommandResult{};
}

std::string Manifests() {
  return R"y(apiVersion: v1
kind: Namespace
metadata: {name: plain}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {ferry.sh/monitored-by: ferry}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: server-config, namespace: plain}
data: {PORT: "8080"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: server, namespace: plain}
spec:
  replicas: 1
  selector: {matchLabels: {app: server}}
  template:
    metadata: {labels: {app: server}}
    spec:
      nodeName: node-2
      containers:
      - name: server
        command: [")y" FERRY_PROBE_BIN R"y(", serve, --port, "$(PORT)"]
        envFrom: [{configMapRef: {name: server-config}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: plain}
spec:
  replicas: 1
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec:
      nodeSelector: {kubernetes.io/hostname: node-1}
      containers: [{name: client, command: [/bin/sleep, infinity]}]
---
apiVersion: v1
kind: Service
metadata: {name: server, namespace: plain}
spec:
  selector: {app: server}
  ports: [{port: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: meshed, namespace: shop, labels: {app: meshed}}
spec:
  containers: [{name: c, command: [/bin/sleep, infinity]}]
---
apiVersion: v1
kind: Service
metadata: {name: meshed, namespace: shop}
spec:
  selector: {app: meshed}
  ports: [{port: 80}]
)y";
}

json GetJson(const std::string& what) {
  auto r = Ferryctl({"local", "get", what, "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  auto doc = json::parse(r.output, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << r.output;
  return doc.is_discarded() ? json::array() : doc;
}

json NamespaceList() {
  auto r = Ferryctl({"namespace", "list", "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  auto doc = json::parse(r.output, nullptr, false);
  return doc.is_object() ? doc : json::object();
}

json FindByName(const json& rows, const std::string& prefix) {
  for (const auto& row : rows)
    if (row.value("name", "").rfind(prefix, 0) == 0) return row;
  return json::object();
}

// Enrollment follows namespace labels asynchronously (controller → agents): poll for it.
json WaitForPod(const std::string& name, bool enrolled) {
  json pod;
  for (int attempt = 0; attempt < 100; ++attempt) {
    pod = FindByName(GetJson("pods"), name);
    if (pod.value("enrolled", json()) == json(enrolled)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return pod;
}

class FerryctlLocal : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!MissingPrivilege().empty()) return;
    auto up = Ferryctl({"local", "up", "--nodes", "2"});
    up_output_ = up.output + up.errors;
    up_ok_ = up.exit_code == 0;
    if (!up_ok_) return;
    std::ofstream(StateDir() + "-app.yaml") << Manifests();
    auto apply = Ferryctl({"local", "apply", "-f", StateDir() + "-app.yaml"});
    apply_output_ = apply.output + apply.errors;
    apply_ok_ = apply.exit_code == 0;
  }
  static void TearDownTestSuite() {
    if (fs::exists(StateDir() + "/cluster.json")) Ferryctl({"local", "down"});
    std::error_code ec;
    fs::remove(StateDir() + "-app.yaml", ec);
  }
  void SetUp() override {
    FERRY_REQUIRE_PRIVILEGED();
    ASSERT_TRUE(up_ok_) << up_output_;
    ASSERT_TRUE(apply_ok_) << apply_output_;
  }

  static inline bool up_ok_ = false, apply_ok_ = false;
  static inline std::string up_output_, apply_output_;
};

TEST_F(FerryctlLocal, PodsRunOnTheirNodesWithAddressesOfThoseNodes) {
  WaitForPod("meshed", true);
  json pods = GetJson("pods");
  ASSERT_EQ(pods.size(), 3u) << pods.dump(2);
  json server = FindByName(pods, "server-0"), client = FindByName(pods, "client-0"), meshed = FindByName(pods, "meshed");
  EXPECT_EQ(server["node"], "node-2");
  EXPECT_EQ(client["node"], "node-1");
  EXPECT_EQ(server["ip"].get<std::string>().rfind("198.18.2.", 0), 0u) << server;
  EXPECT_EQ(client["ip"].get<std::string>().rfind("198.18.1.", 0), 0u) << client;
  EXPECT_EQ(server["status"], "Running") << server;
  EXPECT_EQ(server["enrolled"], false) << "namespace plain is not in the mesh";
  EXPECT_EQ(meshed["enrolled"], true) << "namespace shop is labelled for the mesh";
  for (const auto& key : {"name", "namespace", "node", "ip", "serviceAccount", "enrolled", "status", "netns"})
    EXPECT_TRUE(server.contains(key)) << key;

  json nodes = GetJson("nodes");
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(FindByName(nodes, "node-2")["underlayIp"], "198.19.0.12");
  json services = GetJson("services");
  EXPECT_EQ(FindByName(services, "server")["vip"].get<std::string>().rfind("198.19.", 0), 0u) << services;
}

TEST_F(FerryctlLocal, ExecRunsInThePodAndPassesTheExitStatusThrough) {
  auto ip = Exec("plain", "deploy/client", {"/usr/sbin/ip", "-4", "-o", "addr", "show", "eth0"});
  EXPECT_EQ(ip.exit_code, 0) << ip.errors;
  EXPECT_NE(ip.output.find(FindByName(GetJson("pods"), "client-0")["ip"].get<std::string>()), std::string::npos)
      << ip.output;
  auto status = Exec("plain", "client-0", {"/bin/sh", "-c", "echo out; exit 7"});
  EXPECT_EQ(status.exit_code, 7);
  EXPECT_EQ(status.output, "out\n");
  auto missing = Exec("plain", "no-such-pod", {"/bin/true"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.errors.find("not found"), std::string::npos) << missing.errors;
}

TEST_F(FerryctlLocal, NonMeshPodReachesPodOnOtherNodeByServiceName) {
  // plain is outside the mesh: its hosts file maps the service to the endpoint pod's IP.
  std::string server_ip = FindByName(GetJson("pods"), "server-0")["ip"];
  auto hosts = Exec("plain", "client-0", {"/bin/cat", "/etc/hosts"});
  EXPECT_NE(hosts.output.find(server_ip + "\tserver server.plain server.plain.svc.cluster.local"), std::string::npos)
      << hosts.output;
  local::CommandResult sent;
  for (int attempt = 0; attempt < 50; ++attempt) {  // the server may still be binding its port
    sent = Exec("plain", "client-0", {FERRY_PROBE_BIN, "send", "--to", "server.plain:8080", "--bytes", "65536"});
    if (sent.exit_code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto result = json::parse(sent.output, nullptr, false);
  ASSERT_FALSE(result.is_discarded()) << sent.output << sent.errors;
  EXPECT_EQ(result["outcome"], "ok") << result;
  EXPECT_EQ(result["intact"], true) << result;
}

TEST_F(FerryctlLocal, SecondClusterIsRefused) {
  std::string other = StateDir() + "-second";
  auto again = Ferryctl({"local", "up", "--nodes", "1"}, other);
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.errors.find("already running"), std::string::npos) << again.errors;
  EXPECT_EQ(GetJson("nodes").size(), 2u) << "the running cluster is untouched";
  std::error_code ec;
  fs::remove_all(other, ec);
}

TEST_F(FerryctlLocal, NamespaceAddEnrollsRunningPodsWithoutRecreatingThem) {
  json before = FindByName(GetJson("pods"), "server-0");
  ASSERT_EQ(before["enrolled"], false);
  auto add = Ferryctl({"namespace", "add", "plain"});
  EXPECT_EQ(add.exit_code, 0) << add.output << add.errors;
  json added = WaitForPod("server-0", true);
  EXPECT_EQ(added["enrolled"], true) << added;
  json listed = FindByName(NamespaceList()["namespaces"], "plain");
  EXPECT_EQ(listed["inMesh"], true) << listed;
  EXPECT_GE(listed["enrolledPods"].get<int>(), 1) << listed;
  EXPECT_EQ(added["pids"], before["pids"]) << "the pod's program kept running";
  EXPECT_EQ(added["ip"], before["ip"]);
  // Meshed pods resolve services to their VIP.
  std::string vip = FindByName(GetJson("services"), "server")["vip"];
  auto hosts = Exec("plain", "client-0", {"/bin/cat", "/etc/hosts"});
  EXPECT_NE(hosts.output.find(vip + "\tserver server.plain"), std::string::npos) << hosts.output;

  auto remove = Ferryctl({"namespace", "remove", "plain"});
  EXPECT_EQ(remove.exit_code, 0) << remove.output << remove.errors;
  json removed = WaitForPod("server-0", false);
  EXPECT_EQ(removed["enrolled"], false) << removed;
  EXPECT_EQ(removed["pids"], before["pids"]);
  listed = FindByName(NamespaceList()["namespaces"], "plain");
  EXPECT_EQ(listed["inMesh"], false) << listed;
  EXPECT_EQ(listed["enrolledPods"], 0) << listed;
  EXPECT_GE(listed["pods"].get<int>(), 2) << listed;
}

TEST_F(FerryctlLocal, LogLevelReachesEveryAgentAndOnlyTheNodeNamed) {
  auto levels = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "log-level");
    args.insert(args.end(), {"-o", "json"});
    auto r = Ferryctl(args);
    EXPECT_EQ(r.exit_code, 0) << r.output << r.errors;
    std::map<std::string, std::string> by_node;
    json doc = json::parse(r.output, nullptr, false);
    if (doc.is_object())
      for (const auto& a : doc["agents"]) by_node[a["node"]] = a["level"];
    return by_node;
  };
  auto set = levels({"debug"});
  EXPECT_EQ(set, (std::map<std::string, std::string>{{"node-1", "debug"}, {"node-2", "debug"}}));
  auto one = levels({"warn", "--node", "node-2"});
  EXPECT_EQ(one, (std::map<std::string, std::string>{{"node-2", "warning"}}));
  auto shown = levels({});
  EXPECT_EQ(shown, (std::map<std::string, std::string>{{"node-1", "debug"}, {"node-2", "warning"}}));
  levels({"info"});
  auto bad = Ferryctl({"log-level", "info", "--node", "node-9"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.errors.find("no node node-9"), std::string::npos) << bad.errors;
}

std::vector<pid_t> RecordedPids(const json& state) {
  std::vector<pid_t> pids;
  for (const auto& n : state["nodes"]) pids.push_back(n["agentPid"]);
  for (const auto& p : state["pods"])
    for (const auto& proc : p["processes"]) pids.push_back(proc["pid"]);
  if (state.contains("controller")) pids.push_back(state["controller"]["process"]["pid"]);
  return pids;
}

bool Running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto close = line.rfind(')');
  return close != std::string::npos && line.size() > close + 2 && line[close + 2] != 'Z';
}

std::string OutputOf(const std::vector<std::string>& argv) {
  local::SpawnOptions o;
  o.argv = argv;
  auto r = local::RunCommand(o);
  return r.ok() ? r->output : "";
}

// Runs last (gtest keeps definition order): takes the suite's cluster down.
TEST_F(FerryctlLocal, DownLeavesNothingBehind) {
  std::ifstream in(StateDir() + "/cluster.json");
  json state = json::parse(in, nullptr, false);
  ASSERT_FALSE(state.is_discarded());
  std::vector<pid_t> pids = RecordedPids(state);
  ASSERT_GE(pids.size(), 6u);  // 2 agents, the controller, 3 pod programs
  auto down = Ferryctl({"local", "down"});
  EXPECT_EQ(down.exit_code, 0) << down.output << down.errors;

  EXPECT_EQ(OutputOf({"/usr/sbin/ip", "netns", "list"}).find("ferry-"), std::string::npos);
  EXPECT_EQ(OutputOf({"/usr/sbin/ip", "-o", "link"}).find("ferry-ul"), std::string::npos);
  auto cgroup_root = local::FindCgroup2Root();
  ASSERT_TRUE(cgroup_root.ok());
  EXPECT_FALSE(fs::exists(*cgroup_root + "/ferry"));
  EXPECT_FALSE(fs::exists("/sys/fs/bpf/ferry/ferry-node-1"));
  EXPECT_FALSE(fs::exists("/sys/fs/bpf/ferry/ferry-node-2"));
  for (pid_t pid : pids) EXPECT_FALSE(Running(pid)) << "pid " << pid << " still runs";
  EXPECT_FALSE(fs::exists(StateDir())) << "state directory left behind";
  // And a new cluster can start again.
  auto get = Ferryctl({"local", "get", "pods"});
  EXPECT_NE(get.exit_code, 0);
  EXPECT_NE(get.errors.find("ferryctl local up"), std::string::npos) << get.errors;
}

}  // namespace
}  // namespace ferry::vmtest
