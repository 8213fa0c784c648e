#include "mesh_fixture.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/enroll/enroll_protocol.h"
#include "privileged.h"

namespace ferry::vmtest {

namespace {

// Waits until a TCP port in the pod answers (the app has bound it).
void WaitForListener(local::LocalCluster& cluster, const local::Pod& pod, int port) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = cluster.RunInPod(pod, {"/bin/sh", "-c", "grep -q ':" + [&] {
                                      char hex[8];
                                      snprintf(hex, sizeof(hex), "%04X", port);
                                      return std::string(hex);
                                    }() + " ' /proc/net/tcp"});
    if (r.ok() && r->exit_code == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL() << "no listener on port " << port << " in " << pod.Key();
}

}  // namespace

void MeshFixture::SetUp() {
  FERRY_REQUIRE_PRIVILEGED();
  std::string name = "ferrydp" + std::to_string(getpid());
  state_dir_ = "/tmp/ferry-vmtest-" + name;
  local::ClusterOptions options;
  options.name = name;
  options.state_dir = state_dir_;
  options.nodes = 1;
  options.agent_binary = FERRY_AGENT_BIN;
  auto cluster = local::LocalCluster::Create(options);
  ASSERT_TRUE(cluster.ok()) << cluster.error().Message();
  cluster_ = std::move(cluster).value();
  auto started = cluster_->StartAgent(1);
  ASSERT_TRUE(started.ok()) << started.error().Message();

  auto add = [&](const char* ns, const char* pod_name, const char* sa, bool enroll) -> local::Pod* {
    auto pod = cluster_->AddPod({ns, pod_name, sa, 1, enroll, {}});
    EXPECT_TRUE(pod.ok()) << pod.error().Message();
    return pod.ok() ? *pod : nullptr;
  };
  frontend_ = add("app", "frontend", "frontend", true);
  api_ = add("app", "api", "api", true);
  other_ = add("plain", "other", "default", false);
  peer_ = add("plain", "peer", "default", false);
  ASSERT_TRUE(frontend_ && api_ && other_ && peer_);

  api_events_ = state_dir_ + "/api-events.jsonl";
  std::ofstream(api_events_).flush();
  ASSERT_TRUE(cluster_->StartInPod(*api_, {FERRY_PROBE_BIN, "serve", "--port", "8080", "--events", api_events_},
                                   cluster_->LogPath("api-8080")).ok());
  ASSERT_TRUE(cluster_->StartInPod(*api_, {FERRY_PROBE_BIN, "serve", "--port", "8081", "--no-read", "--events",
                                           api_events_},
                                   cluster_->LogPath("api-8081")).ok());
  ASSERT_TRUE(cluster_->StartInPod(*peer_, {FERRY_PROBE_BIN, "serve", "--port", "8080"}, cluster_->LogPath("peer")).ok());
  WaitForListener(*cluster_, *api_, 8080);
  WaitForListener(*cluster_, *api_, 8081);
  WaitForListener(*cluster_, *peer_, 8080);
}

void MeshFixture::TearDown() {
  if (!cluster_) return;
  if (HasFailure()) {
    std::ifstream log(cluster_->node(1).agent_log);
    std::string line, tail;
    while (std::getline(log, line)) tail += line + "\n";
    if (tail.size() > 6000) tail = tail.substr(tail.size() - 6000);
    std::cerr << "---- agent log (tail) ----\n" << tail << "--------\n";
  }
  auto down = cluster_->Down();
  EXPECT_TRUE(down.ok()) << down.error().Message();
  cluster_.reset();
  std::error_code ec;
  std::filesystem::remove_all(state_dir_, ec);
}

std::chrono::milliseconds MeshFixture::SetPolicy(const std::string& yaml) {
  const auto& node = cluster_->node(1);
  std::string tmp = node.policy_file + ".tmp";
  std::ofstream(tmp) << yaml;
  std::filesystem::rename(tmp, node.policy_file);
  auto start = std::chrono::steady_clock::now();
  auto reply = enroll::SendRequest(node.enroll_socket, R"({"op":"reload"})", 10000);
  EXPECT_TRUE(reply.ok() && reply->find("\"ok\":true") != std::string::npos)
      << (reply.ok() ? *reply : reply.error().Message());
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
}

nlohmann::json MeshFixture::Probe(const local::Pod& pod, std::vector<std::string> args,
                                  std::chrono::milliseconds timeout) {
  args.insert(args.begin(), FERRY_PROBE_BIN);
  auto r = cluster_->RunInPod(pod, args, timeout);
  if (!r.ok()) {
    ADD_FAILURE() << "probe in " << pod.Key() << ": " << r.error().Message();
    return nlohmann::json::object();
  }
  std::string last;
  std::istringstream lines(r->output);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) last = line;
  auto doc = nlohmann::json::parse(last, nullptr, false);
  if (doc.is_discarded()) {
    ADD_FAILURE() << "probe printed no JSON: " << r->output << r->errors;
    return nlohmann::json::object();
  }
  return doc;
}

std::vector<nlohmann::json> MeshFixture::ApiAccepts() const {
  std::vector<nlohmann::json> out;
  std::ifstream in(api_events_);
  for (std::string line; std::getline(in, line);) {
    auto doc = nlohmann::json::parse(line, nullptr, false);
    if (!doc.is_discarded()) out.push_back(doc);
  }
  return out;
}

void MeshFixture::RestartAgent() {
  auto r = cluster_->StartAgent(1);
  ASSERT_TRUE(r.ok()) << r.error().Message();
}

std::string MeshFixture::AllowFrontendToApi(const std::string& ports) {
  return R"(apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata:
  name: api-from-frontend
  namespace: app
spec:
  destination:
    kind: ServiceAccount
    name: api
    namespace: app
  sources:
  - kind: ServiceAccount
    name: frontend
    namespace: app
  rules:
  - kind: TCPRoute
    name: api-tcp
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata:
  name: api-tcp
  namespace: app
spec:
  matches:
    ports: )" + ports + "\n";
}

}  // namespace ferry::vmtest
