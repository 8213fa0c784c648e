// Self-test of the mTLS test tools, without a cluster: three throwaway network namespaces
//
//   <p>-cli: eth0 198.18.250.2/30 --veth-- <p>-hub: bridge br0 --veth-- <p>-srv: eth0 .1/30
//
// (the bridge stands in for the local cluster's ferry-ul0), an in-process TLS 1.3 server on
// 198.18.250.1:15008 speaking the CONNECT preface with certificates from test_certs, and
// ferry-tls-probe run in <p>-cli. UnderlayCapture watches the bridge like the mesh tests watch
// ferry-ul0.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "agent/tunnel/connect_preface.h"
#include "common/ipv4.h"
#include "common/unique_fd.h"
#include "identity/x509_inspect.h"
#include "privileged.h"
#include "test_result.h"
#include "vmtests/mesh/test_certs.h"
#include "vmtests/mesh/underlay_capture.h"

namespace ferry::vmtest {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kTrustDomain = "mtlsprobe.test";
constexpr const char* kServerIp = "198.18.250.1";
constexpr const char* kClientIp = "198.18.250.2";
constexpr uint16_t kTunnelPort = 15008;
constexpr uint16_t kPlainPort = 18080;
constexpr uint16_t kForbiddenTargetPort = 9999;
const TestIdentity kServerId{"srv", "server"};
const TestIdentity kClientId{"cli", "client"};
const std::string kAllowedClientUri = "spiffe://mtlsprobe.test/ns/cli/sa/client";

int Shell(const std::string& command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Runs `fn` on a thread that has joined netns `name`: sockets it creates live in that netns for
// good, whichever thread uses them later.
template <typename Fn>
auto InNetns(const std::string& name, Fn fn) -> decltype(fn()) {
  decltype(fn()) result{};
  std::string error;
  std::thread t([&] {
    UniqueFd ns(::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns || ::setns(ns.get(), CLONE_NEWNET) != 0) {
      error = "cannot enter netns " + name;
      return;
    }
    result = fn();
  });
  t.join();
  if (!error.empty()) ADD_FAILURE() << error;
  return result;
}

// The three namespaces and their links; removed in the destructor even when Create() failed half
// way (deleting a netns deletes the veths and the bridge in it).
class Topology {
 public:
  Topology() : prefix_("mtlsprobe-" + std::to_string(::getpid())) {}
  ~Topology() {
    for (const char* role : {"cli", "srv", "hub"})
      Shell("ip netns del " + Netns(role) + " 2>/dev/null");
  }
  std::string Netns(const char* role) const { return prefix_ + "-" + role; }

  bool Create() {
    const std::string hub = "ip -n " + Netns("hub") + " ";
    std::vector<std::string> steps = {
        "ip netns add " + Netns("hub"),
        "ip netns add " + Netns("srv"),
        "ip netns add " + Netns("cli"),
        hub + "link add br0 type bridge",
        hub + "link set br0 up",
        hub + "link add ps type veth peer name eth0 netns " + Netns("srv"),
        hub + "link add pc type veth peer name eth0 netns " + Netns("cli"),
        hub + "link set ps master br0 up",
        hub + "link set pc master br0 up"};
    for (auto [role, ip] : {std::pair{"srv", kServerIp}, std::pair{"cli", kClientIp}}) {
      const std::string in = "ip -n " + Netns(role) + " ";
      steps.push_back(in + "addr add " + ip + "/30 dev eth0");
      steps.push_back(in + "link set eth0 up");
      steps.push_back(in + "link set lo up");
    }
    for (const auto& s : steps) {
      if (Shell(s) != 0) {
        ADD_FAILURE() << "topology step failed: " << s;
        return false;
      }
    }
    return true;
  }

 private:
  std::string prefix_;
};

UniqueFd Listen(const char* ip, uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa = Ipv4Endpoint{*ParseIpv4(ip), port}.ToSockaddr();
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
      ::listen(fd.get(), 16) != 0)
    return UniqueFd();
  return fd;
}

// A minimal tunnel endpoint: TLS 1.3, client certificate required and verified against the test
// CA, only kAllowedClientUri and only targets other than kForbiddenTargetPort get a 200; then it
// echoes. One connection at a time, which is all the probe needs.
class TunnelServer {
 public:
  ~TunnelServer() { Stop(); }

  bool Start(UniqueFd listener, const CertFiles& server, const std::string& client_ca) {
    ctx_.reset(SSL_CTX_new(TLS_server_method()));
    SSL_CTX* c = ctx_.get();
    if (!listener || !c || SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) != 1 ||
        SSL_CTX_use_certificate_chain_file(c, server.cert_path.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(c, server.key_path.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(c, client_ca.c_str(), nullptr) != 1) {
      return false;
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    SSL_CTX_set_num_tickets(c, 0);
    listener_ = std::move(listener);
    thread_ = std::thread([this] { Serve(); });
    return true;
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int handshakes_refused() const { return refused_.load(); }
  int connects_answered() const { return answered_.load(); }

 private:
  struct CtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  };

  void Serve() {
    while (!stop_) {
      pollfd p{listener_.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn) continue;
      timeval tv{3, 0};
      setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      setsockopt(conn.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
      SSL* ssl = SSL_new(ctx_.get());
      SSL_set_fd(ssl, conn.get());
      if (SSL_accept(ssl) == 1)
        Handle(ssl);
      else
        ++refused_;
      ERR_clear_error();
      SSL_free(ssl);
    }
  }

  void Handle(SSL* ssl) {
    tunnel::ConnectRequestParser parser;
    char buf[4096];
    size_t got = 0;
    std::optional<tunnel::ConnectRequest> request;
    while (!request) {
      if (SSL_read_ex(ssl, buf, sizeof(buf), &got) != 1) return;
      auto r = parser.Feed(std::string_view(buf, got));
      if (!r.ok()) return;
      request = r.value();
    }
    ++answered_;
    auto uri = identity::CertificateUriSan(SSL_get0_peer_certificate(ssl));
    std::string response;
    if (!uri.ok() || uri.value() != kAllowedClientUri) {
      response =
          tunnel::BuildConnectResponse(tunnel::ConnectStatus::kForbidden,
                                       "identity not allowed: " + (uri.ok() ? uri.value() : ""));
    } else if (request->target.port == kForbiddenTargetPort) {
      response = tunnel::BuildConnectResponse(tunnel::ConnectStatus::kForbidden,
                                              "port denied by selftest");
    } else {
      response = tunnel::BuildConnectResponse(tunnel::ConnectStatus::kOk);
    }
    size_t written = 0;
    if (SSL_write_ex(ssl, response.data(), response.size(), &written) != 1) return;
    if (response.rfind("HTTP/1.1 200", 0) != 0) return;
    std::string pending(buf + parser.payload_offset(), got - parser.payload_offset());
    do {  // echo until the client closes (or the 3 s read timeout)
      if (!pending.empty() && SSL_write_ex(ssl, pending.data(), pending.size(), &written) != 1)
        return;
      if (SSL_read_ex(ssl, buf, sizeof(buf), &got) != 1) break;
      pending.assign(buf, got);
    } while (true);
    SSL_shutdown(ssl);
  }

  UniqueFd listener_;
  std::unique_ptr<SSL_CTX, CtxFree> ctx_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> refused_{0};
  std::atomic<int> answered_{0};
};

struct ProbeRun {
  int exit_code = -1;
  std::string output;
  json verdict;  // the JSON line, or null
};

class MeshToolsSelftest : public ::testing::Test {
 protected:
  void SetUp() override {
    FERRY_REQUIRE_PRIVILEGED();
    char tmpl[] = "/tmp/mtlsprobe-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto ca = WriteTestCa(dir_, "ca", kTrustDomain);
    ASSERT_OK(ca);
    ca_ = ca.value();
    auto server = WriteLeafFromCa(dir_, kServerId, kTrustDomain, ca_.cert_path, ca_.key_path);
    ASSERT_OK(server);
    auto client = WriteLeafFromCa(dir_, kClientId, kTrustDomain, ca_.cert_path, ca_.key_path);
    ASSERT_OK(client);
    client_ = client.value();
    ASSERT_TRUE(topology_.Create());
    UniqueFd listener =
        InNetns(topology_.Netns("srv"), [] { return Listen(kServerIp, kTunnelPort); });
    ASSERT_TRUE(server_.Start(std::move(listener), server.value(), ca_.cert_path));
    bridge_capture_ = StartCapture("hub", "br0");
    ASSERT_NE(bridge_capture_, nullptr);
  }

  void TearDown() override {
    server_.Stop();
    bridge_capture_.reset();
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  std::unique_ptr<UnderlayCapture> StartCapture(const char* role, const std::string& ifname) {
    auto capture = InNetns(topology_.Netns(role), [&] {
      auto r = UnderlayCapture::Start(ifname, {kTlsMarker, kPlainMarker});
      EXPECT_OK(r);
      return r.ok() ? std::move(r).value() : nullptr;
    });
    return capture;
  }

  // ferry-tls-probe inside the client namespace.
  ProbeRun Probe(const std::vector<std::string>& args) {
    std::string command = "ip netns exec " + topology_.Netns("cli") + " " FERRY_TLS_PROBE_BIN;
    for (const auto& a : args) command += " '" + a + "'";
    ProbeRun run;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) return run;
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof(buf), pipe)) run.output.append(buf, n);
    int status = ::pclose(pipe);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (std::getenv("MTLSPROBE_VERBOSE")) std::fprintf(stderr, "probe: %s", run.output.c_str());
    size_t brace = run.output.rfind("\n{");
    std::string line = run.output.substr(brace == std::string::npos ? 0 : brace + 1);
    run.verdict = json::parse(line, nullptr, /*allow_exceptions=*/false);
    return run;
  }

  ProbeRun ProbeTunnel(const std::string& ca, const CertFiles* client,
                       std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "--connect",    std::string(kServerIp) + ":" + std::to_string(kTunnelPort),
        "--ca",         ca,
        "--timeout-ms", "3000"};
    if (client) args.insert(args.end(), {"--cert", client->cert_path, "--key", client->key_path});
    args.insert(args.end(), extra.begin(), extra.end());
    return Probe(args);
  }

  static constexpr const char* kTlsMarker = "MTLSPROBE-SECRET-3f9a1c";
  static constexpr const char* kPlainMarker = "MTLSPROBE-PLAINTEXT-77b2e0";

  std::string dir_;
  CertFiles ca_, client_;
  Topology topology_;
  TunnelServer server_;
  std::unique_ptr<UnderlayCapture> bridge_capture_;
};

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds deadline = 5s) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

TEST_F(MeshToolsSelftest, ProbeWithTheRightCaGets200PeerIdentityAndEcho) {
  auto run = ProbeTunnel(ca_.cert_path, &client_,
                         {"--target", std::string(kServerIp) + ":8080", "--send", kTlsMarker});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.verdict.value("tcp", ""), "ok") << run.output;
  EXPECT_EQ(run.verdict.value("handshake", ""), "ok") << run.output;
  EXPECT_EQ(run.verdict.value("status", 0), 200) << run.output;
  EXPECT_EQ(run.verdict.value("peer_uri", ""), "spiffe://mtlsprobe.test/ns/srv/sa/server");
  EXPECT_EQ(run.verdict.value("echo", ""), kTlsMarker) << run.output;
  EXPECT_EQ(run.verdict.value("error", "x"), "");
  // The bridge carried the tunnel, but never the marker in the clear.
  EXPECT_TRUE(WaitFor([&] { return bridge_capture_->CountPort(kTunnelPort) >= 4; }));
  auto stats = bridge_capture_->Stop();
  EXPECT_EQ(stats.MarkerHits(kTlsMarker), 0u);
  EXPECT_EQ(stats.CountPort(8080), 0u);
}

TEST_F(MeshToolsSelftest, ProbeWithAWrongCaReportsVerifyFailure) {
  auto foreign = WriteForeignDomainLeaf(dir_, kClientId);
  ASSERT_OK(foreign);
  auto run = ProbeTunnel(foreign->ca_path, &client_);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.verdict.value("tcp", ""), "ok") << run.output;
  EXPECT_EQ(run.verdict.value("handshake", ""), "failed") << run.output;
  EXPECT_EQ(run.verdict.value("status", -1), 0);
  EXPECT_NE(run.verdict.value("error", "").find("certificate verify failed"), std::string::npos)
      << run.output;
  EXPECT_EQ(server_.connects_answered(), 0);
}

TEST_F(MeshToolsSelftest, ServerRefusingAClientWithoutCertificateShowsAsFailed) {
  auto run = ProbeTunnel(ca_.cert_path, nullptr, {"--target", "8080"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.verdict.value("tcp", ""), "ok") << run.output;
  EXPECT_EQ(run.verdict.value("handshake", ""), "failed") << run.output;
  EXPECT_EQ(run.verdict.value("status", -1), 0);
  EXPECT_NE(run.verdict.value("error", "").find("certificate required"), std::string::npos)
      << run.output;
  // The server's side of the story: it refused the handshake and answered no CONNECT.
  EXPECT_TRUE(WaitFor([&] { return server_.handshakes_refused() == 1; }));
  EXPECT_EQ(server_.connects_answered(), 0);
}

TEST_F(MeshToolsSelftest, ForeignSelfSignedAndExpiredClientCertificatesAreRefused) {
  auto foreign = WriteForeignDomainLeaf(dir_, kClientId);
  auto self_signed = WriteSelfSignedLeaf(dir_, kClientId, kTrustDomain);
  auto expired = WriteExpiredLeafFromCa(dir_, kClientId, kTrustDomain, ca_.cert_path, ca_.key_path);
  ASSERT_OK(foreign);
  ASSERT_OK(self_signed);
  ASSERT_OK(expired);
  struct Case {
    const char* name;
    const CertFiles* files;
    const char* alert;
  };
  for (const Case& c : {Case{"foreign", &foreign.value(), "unknown ca"},
                        Case{"self-signed", &self_signed.value(), "unknown ca"},
                        Case{"expired", &expired.value(), "certificate expired"}}) {
    SCOPED_TRACE(c.name);
    auto run = ProbeTunnel(ca_.cert_path, c.files, {"--target", "8080"});
    ASSERT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(run.verdict.value("handshake", ""), "failed") << run.output;
    EXPECT_NE(run.verdict.value("error", "").find(c.alert), std::string::npos) << run.output;
  }
  EXPECT_TRUE(WaitFor([&] { return server_.handshakes_refused() == 3; }));
  EXPECT_EQ(server_.connects_answered(), 0);
}

TEST_F(MeshToolsSelftest, StatusAndReasonOfARefusedConnectAreReported) {
  // A genuine cluster-CA leaf for another service account: TLS accepts it, "policy" does not.
  auto other = WriteLeafFromCa(dir_, {"cli", "other"}, kTrustDomain, ca_.cert_path, ca_.key_path);
  ASSERT_OK(other);
  auto run = ProbeTunnel(ca_.cert_path, &other.value(), {"--target", "8080", "--send", kTlsMarker});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.verdict.value("handshake", ""), "ok") << run.output;
  EXPECT_EQ(run.verdict.value("status", 0), 403);
  EXPECT_EQ(run.verdict.value("reason", ""),
            "identity not allowed: spiffe://mtlsprobe.test/ns/cli/sa/other");
  EXPECT_FALSE(run.verdict.contains("echo")) << "no marker is sent through a refused tunnel";

  run = ProbeTunnel(ca_.cert_path, &client_, {"--target", std::to_string(kForbiddenTargetPort)});
  EXPECT_EQ(run.verdict.value("status", 0), 403) << run.output;
  EXPECT_EQ(run.verdict.value("reason", ""), "port denied by selftest");
}

TEST_F(MeshToolsSelftest, ClosedPortIsATcpErrorAndBadUsageExitsNonZero) {
  auto run = Probe({"--connect", std::string(kServerIp) + ":15009", "--ca", ca_.cert_path});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.verdict.value("tcp", ""), "error") << run.output;
  EXPECT_EQ(run.verdict.value("handshake", ""), "failed");
  EXPECT_NE(run.verdict.value("error", "").find("refused"), std::string::npos) << run.output;

  EXPECT_EQ(Probe({"--connect", std::string(kServerIp) + ":15008"}).exit_code, 2);
  EXPECT_EQ(Probe({"--connect", "nonsense", "--ca", ca_.cert_path}).exit_code, 2);
  EXPECT_EQ(Probe({"--connect", std::string(kServerIp) + ":15008", "--ca", dir_ + "/missing.pem"})
                .exit_code,
            2);
}

TEST_F(MeshToolsSelftest, CaptureSeesPlaintextMarkerAndPortOnBridgeAndVeth) {
  auto veth_capture = StartCapture("cli", "eth0");
  ASSERT_NE(veth_capture, nullptr);
  UniqueFd listener = InNetns(topology_.Netns("srv"), [] { return Listen(kServerIp, kPlainPort); });
  ASSERT_TRUE(listener.valid());
  UniqueFd client = InNetns(topology_.Netns("cli"), [] {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sa = Ipv4Endpoint{*ParseIpv4(kServerIp), kPlainPort}.ToSockaddr();
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return UniqueFd();
    return fd;
  });
  ASSERT_TRUE(client.valid());
  std::string marker = kPlainMarker;
  ASSERT_EQ(::send(client.get(), marker.data(), marker.size(), 0),
            static_cast<ssize_t>(marker.size()));
  UniqueFd accepted(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(accepted.valid());
  std::string received(marker.size(), '\0');
  ASSERT_EQ(::recv(accepted.get(), received.data(), received.size(), MSG_WAITALL),
            static_cast<ssize_t>(marker.size()));
  EXPECT_EQ(received, marker);

  for (UnderlayCapture* capture : {bridge_capture_.get(), veth_capture.get()}) {
    EXPECT_TRUE(WaitFor([&] { return capture->MarkerHits(kPlainMarker) >= 1; }));
    auto stats = capture->Stop();
    EXPECT_EQ(stats.MarkerHits(kPlainMarker), 1u);
    EXPECT_GE(stats.CountPort(kPlainPort), 3u);  // handshake and data, at least
    EXPECT_EQ(stats.CountPort(kTunnelPort), 0u);
    EXPECT_EQ(stats.MarkerHits("never-registered"), 0u);
    EXPECT_EQ(capture->Stop().CountPort(kPlainPort), stats.CountPort(kPlainPort))
        << "Stop is idempotent";
  }
}

}  // namespace
}  // namespace ferry::vmtest
