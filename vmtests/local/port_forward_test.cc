// `ferryctl local port-forward` end to end, as a user drives it: a one-node cluster with an echo
// server in a plain namespace and one in a meshed namespace; the host connects to the forwarded
// loopback port and gets its bytes echoed back through the pod; SIGTERM/SIGINT end the forwarder
// with status 0; wrong pods, ports and addresses fail clearly.
//
// The meshed case is the one that matters for Ferry: the pod's netns has sk_lookup attached and its
// cgroup the connect4 hooks, and the forwarded connection (dialled to 127.0.0.1 inside the pod from
// ferryctl, which is in no pod cgroup) must be plain local delivery, neither captured nor dropped.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "common/unique_fd.h"
#include "local/process.h"
#include "privileged.h"

namespace ferry::vmtest {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

std::string StateDir() { return "/tmp/ferry-pfvm-" + std::to_string(getpid()); }

local::CommandResult Ferryctl(std::vector<std::string> args) {
  local::SpawnOptions o;
  o.argv = {FERRYCTL_BIN};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.argv.insert(o.argv.end(), {"--state", StateDir()});
  auto r = local::RunCommand(o, 90s);
  if (!r.ok()) {
    ADD_FAILURE() << "ferryctl: " << r.error().Message();
    return {};
  }
  return *r;
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
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo, namespace: plain}
spec:
  replicas: 1
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers: [{name: echo, command: [")y" FERRY_PROBE_BIN R"y(", serve, --port, "8080"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: finished, namespace: plain}
spec:
  containers: [{name: c, command: [/bin/true]}]
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  containers: [{name: web, command: [")y" FERRY_PROBE_BIN R"y(", serve, --port, "9090"]}]
)y";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A `ferryctl local port-forward` running in the background; stopped (and its files removed) on
// destruction, whatever the test's outcome.
class ForwardProcess {
 public:
  explicit ForwardProcess(std::vector<std::string> args) {
    static int serial = 0;
    out_ = StateDir() + "-forward-" + std::to_string(++serial) + ".out";
    err_ = out_ + ".err";
    local::SpawnOptions o;
    o.argv = {FERRYCTL_BIN, "local", "port-forward", "--state", StateDir()};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.stdout_path = out_;
    o.stderr_path = err_;
    auto pid = local::Spawn(o);
    if (pid.ok()) pid_ = *pid;
    else ADD_FAILURE() << pid.error().Message();
  }
  ~ForwardProcess() {
    if (pid_ > 0) local::StopProcess(pid_);
    std::error_code ec;
    fs::remove(out_, ec);
    fs::remove(err_, ec);
  }
  ForwardProcess(const ForwardProcess&) = delete;
  ForwardProcess& operator=(const ForwardProcess&) = delete;

  // The local port from "Forwarding from 127.0.0.1:PORT -> REMOTE"; 0 if it never came.
  int WaitForPort(int remote) {
    std::regex line("Forwarding from 127\\.0\\.0\\.1:([0-9]+) -> " + std::to_string(remote) + "\n");
    for (auto deadline = std::chrono::steady_clock::now() + 30s; std::chrono::steady_clock::now() < deadline;) {
      std::smatch m;
      std::string out = ReadFile(out_);
      if (std::regex_search(out, m, line)) return std::stoi(m[1]);
      if (local::WaitExit(pid_, 50ms)) {
        pid_ = -1;
        break;
      }
    }
    ADD_FAILURE() << "no \"Forwarding from\" line; stdout: " << Output() << "; stderr: " << Errors();
    return 0;
  }
  // Sends `signal` and returns the exit status (-1 if it did not end within 15 s).
  int Signal(int signal) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, signal);
    auto code = local::WaitExit(pid_, 15s);
    if (code) pid_ = -1;
    return code.value_or(-1);
  }
  std::string Output() const { return ReadFile(out_); }
  std::string Errors() const { return ReadFile(err_); }

 private:
  pid_t pid_ = -1;
  std::string out_, err_;
};

// Connects to 127.0.0.1:port, sends `payload`, half-closes and reads until EOF: what a client of
// an echo server gets back. Empty on any failure (refused, reset, timeout).
std::string EchoThrough(int port, const std::string& payload) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  timeval timeout{10, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return "";
  std::string reply;
  bool failed = false;
  std::thread reader([&] {
    char buf[65536];
    ssize_t n;
    while ((n = ::recv(fd.get(), buf, sizeof(buf), 0)) > 0) reply.append(buf, static_cast<size_t>(n));
    failed = n < 0;
  });
  for (size_t off = 0; off < payload.size();) {
    ssize_t n = ::send(fd.get(), payload.data() + off, payload.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  ::shutdown(fd.get(), SHUT_WR);
  reader.join();
  return failed ? "" : reply;
}

// The pod's server may still be binding its port: a refused dial closes the client's connection.
std::string EchoThroughWhenReady(int port, const std::string& payload) {
  std::string reply;
  for (int attempt = 0; attempt < 100 && reply.empty(); ++attempt) {
    reply = EchoThrough(port, payload);
    if (reply.empty()) std::this_thread::sleep_for(100ms);
  }
  return reply;
}

class PortForward : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!MissingPrivilege().empty()) return;
    auto up = Ferryctl({"local", "up", "--nodes", "1"});
    setup_output_ = up.output + up.errors;
    if (up.exit_code != 0) return;
    std::ofstream(StateDir() + "-app.yaml") << Manifests();
    auto apply = Ferryctl({"local", "apply", "-f", StateDir() + "-app.yaml"});
    setup_output_ += apply.output + apply.errors;
    setup_ok_ = apply.exit_code == 0;
  }
  static void TearDownTestSuite() {
    if (fs::exists(StateDir() + "/cluster.json")) {
      auto down = Ferryctl({"local", "down"});
      EXPECT_EQ(down.exit_code, 0) << down.output << down.errors;
    }
    std::error_code ec;
    fs::remove(StateDir() + "-app.yaml", ec);
  }
  void SetUp() override {
    FERRY_REQUIRE_PRIVILEGED();
    ASSERT_TRUE(setup_ok_) << setup_output_;
  }

  static inline bool setup_ok_ = false;
  static inline std::string setup_output_;
};

TEST_F(PortForward, RelaysConnectionsToADeploymentsPodUntilSigterm) {
  ForwardProcess forward({"-n", "plain", "deploy/echo", "0:8080"});
  int port = forward.WaitForPort(8080);
  ASSERT_GT(port, 0);
  EXPECT_EQ(EchoThroughWhenReady(port, "hello through the pod\n"), "hello through the pod\n") << forward.Errors();
  // A second connection, larger than any buffer on the way.
  std::string big(4 * 1024 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 23);
  std::string echoed = EchoThrough(port, big);
  EXPECT_EQ(echoed.size(), big.size());
  EXPECT_TRUE(echoed == big) << "bytes changed on the way";
  EXPECT_NE(forward.Output().find("Handling connection for " + std::to_string(port)), std::string::npos)
      << forward.Output();
  EXPECT_EQ(forward.Signal(SIGTERM), 0) << forward.Errors();
  EXPECT_TRUE(EchoThrough(port, "x").empty()) << "the port is closed after the forwarder ended";
}

TEST_F(PortForward, ReachesAMeshedPodWithoutTheDatapathInterfering) {
  json pod;
  for (int attempt = 0; attempt < 100; ++attempt) {  // enrollment follows the namespace label
    auto get = Ferryctl({"local", "get", "pods", "-n", "shop", "-o", "json"});
    json pods = json::parse(get.output, nullptr, false);
    if (!pods.is_discarded() && !pods.empty()) pod = pods[0];
    if (pod.value("enrolled", false)) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(pod.value("enrolled", false), true) << pod.dump();
  ForwardProcess forward({"-n", "shop", "web", ":9090"});
  int port = forward.WaitForPort(9090);
  ASSERT_GT(port, 0);
  EXPECT_EQ(EchoThroughWhenReady(port, "meshed pod\n"), "meshed pod\n") << forward.Errors();
  EXPECT_EQ(EchoThrough(port, "again\n"), "again\n");
  EXPECT_EQ(forward.Signal(SIGINT), 0) << forward.Errors();
}

TEST_F(PortForward, RefusesClearly) {
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    std::string message;
  };
  UniqueFd taken(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sa);
  ASSERT_EQ(::bind(taken.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  ASSERT_EQ(::listen(taken.get(), 1), 0);
  ::getsockname(taken.get(), reinterpret_cast<sockaddr*>(&sa), &len);
  std::string taken_port = std::to_string(ntohs(sa.sin_port));
  for (const Case& c : {
           Case{{"-n", "plain", "no-such-pod", "8080"}, 1, "not found"},
           Case{{"-n", "plain", "deploy/missing", "8080"}, 1, "has no running pod"},
           Case{{"-n", "plain", "finished", "8080"}, 1, "is not running"},
           Case{{"-n", "plain", "deploy/echo", "80:x"}, 2, "LOCAL:REMOTE"},
           Case{{"-n", "plain", "deploy/echo", "0:8080", "--address", "0.0.0.0"}, 2, "only loopback"},
           Case{{"-n", "plain", "deploy/echo", taken_port + ":8080"}, 1, "Address already in use"},
       }) {
    std::vector<std::string> args = {"local", "port-forward"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto r = Ferryctl(args);
    EXPECT_EQ(r.exit_code, c.exit_code) << c.message << ": " << r.output << r.errors;
    EXPECT_NE(r.errors.find(c.message), std::string::npos) << r.errors;
  }
}

}  // namespace
}  // namespace ferry::vmtest
