#include "ferryctl_fixture.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "privileged.h"

namespace ferry::vmtest {

namespace {

std::string BaseManifests() {
  const std::string probe = FERRY_PROBE_BIN;
  auto deployment = [&](const std::string& name, const std::string& node, const std::string& command) {
    return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name + "\n  namespace: shop\nspec:\n"
           "  replicas: 1\n  selector:\n    matchLabels:\n      app: " + name + "\n  template:\n    metadata:\n"
           "      labels:\n        app: " + name + "\n    spec:\n      serviceAccountName: " + name + "\n"
           "      nodeName: " + node + "\n      containers:\n      - name: main\n        image: local\n"
           "        command: [\"/bin/sh\", \"-c\", \"" + command + "\"]\n";
  };
  auto sa = [](const std::string& name) {
    return "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: " + name + "\n  namespace: shop\n";
  };
  return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    ferry.sh/monitored-by: ferry\n---\n" +
         sa("frontend") + "---\n" + sa("api") + "---\n" + sa("worker") + "---\n" +
         deployment("frontend", "node-1", probe + " serve --port 9000") + "---\n" +
         deployment("api", "node-1", probe + " serve --port 8080 & " + probe + " serve --port 7070 & wait") + "---\n" +
         deployment("worker", "node-2", probe + " serve --port 8080") + "---\n" +
         "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\n  namespace: shop\nspec:\n  selector:\n    app: api\n"
         "  ports:\n  - name: api-port\n    port: 80\n    targetPort: 8080\n";
}

}  // namespace

void FerryctlFixture::SetUp() {
  FERRY_REQUIRE_PRIVILEGED();
  state_ = "/tmp/ferry-e2e-" + std::to_string(getpid());
  manifests_ = state_ + "-manifests";
  std::filesystem::create_directories(manifests_);
  std::vector<std::string> up_args = {"local", "up", "--nodes", "2", "--agent-bin", FERRY_AGENT_BIN, "--controller-bin",
                                     FERRY_CONTROLLER_BIN, "--cni-bin", FERRY_CNI_BIN};
  up_args.insert(up_args.end(), extra_up_args_.begin(), extra_up_args_.end());
  auto up = Ctl(up_args);
  ASSERT_EQ(up.exit_code, 0) << up.output << up.errors;
  if (!deploy_shop_) return;
  auto apply = Ctl({"local", "apply", "-f", WriteManifest("base", BaseManifests())});
  ASSERT_EQ(apply.exit_code, 0) << apply.output << apply.errors;
  // The apps listen before the tests start talking to them.
  ASSERT_TRUE(WaitFor([&] {
    return ProbeIn("deploy/api", {"connect", "--to", "127.0.0.1:8080"}).value("outcome", "") == "ok" &&
           ProbeIn("deploy/worker", {"connect", "--to", "127.0.0.1:8080"}).value("outcome", "") == "ok";
  })) << "apps did not come up";
}

void FerryctlFixture::TearDown() {
  if (state_.empty()) return;
  if (HasFailure()) {
    for (const char* log : {"node-1-agent", "node-2-agent", "controller"}) {
      std::ifstream in(state_ + "/logs/" + log + ".log");
      std::stringstream ss;
      ss << in.rdbuf();
      std::string text = ss.str();
      if (text.size() > 3000) text = text.substr(text.size() - 3000);
      std::cerr << "---- " << log << " (tail) ----\n" << text << "\n";
    }
  }
  auto down = Ctl({"local", "down"});
  EXPECT_EQ(down.exit_code, 0) << down.output << down.errors;
  std::error_code ec;
  std::filesystem::remove_all(manifests_, ec);
  std::filesystem::remove_all(state_, ec);
}

local::CommandResult FerryctlFixture::Ctl(std::vector<std::string> args, std::chrono::seconds timeout) {
  local::SpawnOptions o;
  o.argv = {FERRYCTL_BIN};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.argv.insert(o.argv.end(), {"--state", state_});
  auto r = local::RunCommand(o, timeout);
  if (!r.ok()) {
    ADD_FAILURE() << "ferryctl " << args[0] << ": " << r.error().Message();
    return {};
  }
  return *r;
}

nlohmann::json FerryctlFixture::ExecJson(const std::string& ns, const std::string& pod, const std::string& program,
                                         std::vector<std::string> args, std::chrono::seconds timeout) {
  std::string last;
  std::istringstream lines(ExecText(ns, pod, program, std::move(args), timeout));
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) last = line;
  auto doc = nlohmann::json::parse(last, nullptr, false);
  return doc.is_object() ? doc : nlohmann::json::object();
}

std::string FerryctlFixture::ExecText(const std::string& ns, const std::string& pod, const std::string& program,
                                      std::vector<std::string> args, std::chrono::seconds timeout) {
  std::vector<std::string> argv = {"local", "exec", "-n", ns, pod, "--", program};
  argv.insert(argv.end(), args.begin(), args.end());
  local::SpawnOptions o;
  o.argv = {FERRYCTL_BIN};
  o.argv.insert(o.argv.end(), argv.begin(), argv.end());
  // --state before "--": options after it belong to the command.
  o.argv.insert(o.argv.begin() + 3, {"--state", state_});
  auto r = local::RunCommand(o, timeout);
  return r.ok() ? r->output : std::string();
}

nlohmann::json FerryctlFixture::Pods() {
  auto r = Ctl({"local", "get", "pods", "-o", "json"});
  auto doc = nlohmann::json::parse(r.output, nullptr, false);
  return doc.is_array() ? doc : nlohmann::json::array();
}

nlohmann::json FerryctlFixture::PodByName(const std::string& prefix) {
  for (const auto& p : Pods())
    if (p.value("name", "").rfind(prefix, 0) == 0) return p;
  return nlohmann::json::object();
}

std::string FerryctlFixture::WriteManifest(const std::string& name, const std::string& yaml) {
  std::string path = manifests_ + "/" + name + ".yaml";
  std::ofstream(path) << yaml;
  return path;
}

std::optional<std::chrono::milliseconds> FerryctlFixture::WaitFor(const std::function<bool()>& pred,
                                                                  std::chrono::seconds deadline) {
  auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < deadline) {
    if (pred()) return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return std::nullopt;
}

std::string FerryctlFixture::AllowFrontendToApi(const std::string& ports) {
  return R"(apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata:
  name: api-from-frontend
  namespace: shop
spec:
  destination: {kind: ServiceAccount, name: api, namespace: shop}
  sources:
  - {kind: ServiceAccount, name: frontend, namespace: shop}
  rules:
  - {kind: TCPRoute, name: api-tcp}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata:
  name: api-tcp
  namespace: shop
spec:
  matches:
    ports: )" + ports + "\n";
}

}  // namespace ferry::vmtest
