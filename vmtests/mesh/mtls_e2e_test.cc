// Mutual TLS between nodes, end to end on `ferryctl local up --nodes 2` (2-minute certificates):
// frontend (node-1) → worker (node-2) goes through the 15008 tunnel; the destination authorizes
// with the identity in the client's certificate; the underlay never carries the application's
// bytes in the clear; bad certificates are refused; certificates rotate under live traffic; a
// node's credential obtains only identities of its own pods.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <sstream>
#include <thread>

#include "agent/certs/certificate_signer.h"
#include "agent/certs/controller_channel.h"
#include "agent/enroll/enroll_protocol.h"
#include "ferryctl_fixture.h"
#include "identity/csr.h"
#include "identity/spiffe_id.h"
#include "support/tls_stat.h"
#include "test_certs.h"
#include "underlay_capture.h"

namespace ferry::vmtest {
namespace {

constexpr const char* kMeshMarker = "FERRY-MESHED-MARKER-7f3a9c";
constexpr const char* kPlainMarker = "FERRY-UNMESHED-MARKER-51d2e8";
constexpr const char* kTrustDomain = "cluster.local";

std::string AllowFrontendToWorker() {
  return R"(apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: worker-from-frontend, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: worker, namespace: shop}
  sources: [{kind: ServiceAccount, name: frontend, namespace: shop}]
  rules: [{kind: TCPRoute, name: worker-port}]
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: worker-port, namespace: shop}
spec: {matches: {ports: [8080]}}
)";
}

// A namespace outside the mesh with a pod on each node: the unmeshed control flow.
std::string PlainNamespace() {
  const std::string probe = FERRY_PROBE_BIN;
  auto pod = [&](const std::string& name, const std::string& node) {
    return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name + "\n  namespace: plain\nspec:\n"
           "  replicas: 1\n  selector:\n    matchLabels:\n      app: " + name + "\n  template:\n    metadata:\n"
           "      labels:\n        app: " + name + "\n    spec:\n      nodeName: " + node + "\n      containers:\n"
           "      - name: main\n        image: local\n        command: [\"" + probe + "\", \"serve\", \"--port\", \"8080\"]\n";
  };
  return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: plain\n---\n" + pod("plain-a", "node-1") + "---\n" +
         pod("plain-b", "node-2");
}

class MtlsE2eTest : public FerryctlFixture {
 protected:
  MtlsE2eTest() { extra_up_args_ = {"--cert-ttl", "2m", "--trust-domain", kTrustDomain}; }

  void ApplyAllowFrontendToWorker() {
    ASSERT_EQ(Ctl({"local", "apply", "-f", WriteManifest("allow-worker", AllowFrontendToWorker())}).exit_code, 0);
    auto allowed = WaitFor([&] { return Outcome("deploy/frontend", WorkerIp() + ":8080") == "ok"; });
    ASSERT_TRUE(allowed) << "frontend -> worker across nodes not allowed within 10 s of the TrafficTarget";
    std::cout << "cross-node allow took effect after " << allowed->count() << " ms\n";
  }
  void StartPlainPods() {
    ASSERT_EQ(Ctl({"local", "apply", "-f", WriteManifest("plain", PlainNamespace())}).exit_code, 0);
    ASSERT_TRUE(WaitFor([&] {
      return ExecJson("plain", "deploy/plain-b", FERRY_PROBE_BIN, {"connect", "--to", "127.0.0.1:8080"})
                 .value("outcome", "") == "ok";
    })) << "plain pods did not come up";
  }
  std::string WorkerIp() {
    if (worker_ip_.empty()) worker_ip_ = PodByName("worker").value("ip", "");
    return worker_ip_;
  }
  // ferry-tls-probe from a pod outside the mesh on node-1, dialling worker's tunnel port.
  nlohmann::json TlsProbe(const std::vector<std::string>& cert_args, const std::string& target) {
    std::vector<std::string> args = {"--connect", WorkerIp() + ":15008", "--ca", state_ + "/pki/ca.pem",
                                     "--target", target, "--timeout-ms", "5000"};
    args.insert(args.end(), cert_args.begin(), cert_args.end());
    return ExecJson("plain", "deploy/plain-a", FERRY_TLS_PROBE_BIN, args);
  }
  // The kernel's kTLS counters of a pod's network namespace (where the tunnel sockets live).
  std::map<std::string, uint64_t> TlsStatIn(const std::string& pod) {
    return testing::ParseTlsStat(ExecText("shop", pod, "/bin/cat", {"/proc/net/tls_stat"}));
  }
  // The agent's own report ({"op":"status"} on its enrollment socket).
  nlohmann::json AgentStatus(const std::string& node) {
    auto reply = enroll::SendRequest(state_ + "/" + node + "/agent.sock", R"({"op":"status"})", 5000);
    if (!reply.ok()) return nlohmann::json::object();
    auto doc = nlohmann::json::parse(*reply, nullptr, false);
    return doc.is_object() ? doc : nlohmann::json::object();
  }
  std::string CertDir() {
    std::string dir = manifests_ + "/certs";
    std::filesystem::create_directories(dir);
    return dir;
  }

  std::string worker_ip_;
};

TEST_F(MtlsE2eTest, CrossNodeTrafficIsDeniedWithoutPolicyAllowedWithItAndEncryptedOnTheUnderlay) {
  StartPlainPods();
  auto capture = UnderlayCapture::Start("ferry-ul0", {kMeshMarker, kPlainMarker});
  ASSERT_TRUE(capture.ok()) << capture.error().Message();

  EXPECT_NE(Outcome("deploy/frontend", WorkerIp() + ":8080"), "ok") << "no TrafficTarget: denied";
  ApplyAllowFrontendToWorker();
  auto tls_before_client = TlsStatIn("deploy/frontend"), tls_before_server = TlsStatIn("deploy/worker");
  // Generous: under qemu's TCG every byte is encrypted by an emulated CPU.
  auto meshed = ExecJson("shop", "deploy/frontend", FERRY_PROBE_BIN,
                         {"send", "--to", WorkerIp() + ":8080", "--bytes", "16777216", "--marker", kMeshMarker},
                         std::chrono::seconds(300));
  EXPECT_EQ(meshed.value("intact", false), true) << "16 MiB through the tunnel: " << meshed;
  // The same marker between two pods outside the mesh crosses the same underlay in the clear.
  std::string plain_b = PodByName("plain-b").value("ip", "");
  auto plain = ExecJson("plain", "deploy/plain-a", FERRY_PROBE_BIN,
                        {"send", "--to", plain_b + ":8080", "--bytes", "4096", "--marker", kPlainMarker});
  EXPECT_EQ(plain.value("intact", false), true) << plain;

  // Both agents report the tunnel legs in the mode this kernel allows (kTLS or user space).
  for (const char* node : {"node-1", "node-2"}) {
    auto status = AgentStatus(node);
    bool ktls = status.value("kernelTls", false);
    // The qemu stage runs this on a kernel with kTLS, where falling back would be a defect.
    if (std::getenv("FERRY_REQUIRE_KTLS")) {
      EXPECT_TRUE(ktls) << node << " does not use kTLS: " << status.dump();
    }
    const auto& proxy = status.value("proxy", nlohmann::json::object());
    EXPECT_GT(proxy.value(ktls ? "legsKtls" : "legsUserspace", 0u), 0u) << node << ": " << status.dump();
    std::cout << node << ": kernel TLS " << (ktls ? "on" : "off") << ", legs kTLS " << proxy.value("legsKtls", 0u)
              << ", user space " << proxy.value("legsUserspace", 0u) << "\n";
  }
  // Where the kernel has kTLS, its own counters agree: sessions installed in both directions on
  // both ends, and no record failed to decrypt.
  if (AgentStatus("node-1").value("kernelTls", false)) {
    for (auto [pod, before] : {std::pair{"deploy/frontend", tls_before_client}, std::pair{"deploy/worker", tls_before_server}}) {
      auto after = TlsStatIn(pod);
      EXPECT_GT(after["TlsTxSw"], before["TlsTxSw"]) << pod << ": no kTLS TX session installed";
      EXPECT_GT(after["TlsRxSw"], before["TlsRxSw"]) << pod << ": no kTLS RX session installed";
      EXPECT_EQ(after["TlsDecryptError"], 0u) << pod;
      std::cout << pod << " tls_stat: TlsTxSw " << after["TlsTxSw"] << ", TlsRxSw " << after["TlsRxSw"]
                << ", TlsDecryptError " << after["TlsDecryptError"] << "\n";
    }
  }
  auto stats = (*capture)->Stop();
  std::cout << "underlay: " << stats.ipv4_tcp << " TCP frames, " << stats.CountPort(15008) << " on 15008, "
            << stats.MarkerHits(kMeshMarker) << " with the meshed marker, " << stats.MarkerHits(kPlainMarker)
            << " with the unmeshed one\n";
  EXPECT_GT(stats.CountPort(15008), 100u) << "16 MiB should have crossed the underlay on the tunnel port";
  EXPECT_EQ(stats.MarkerHits(kMeshMarker), 0u) << "meshed bytes seen in the clear on the underlay";
  EXPECT_GT(stats.MarkerHits(kPlainMarker), 0u) << "the capture did not see the unmeshed control flow";
}

TEST_F(MtlsE2eTest, TunnelRefusesForeignSelfSignedOtherIdentityAndMissingCertificates) {
  StartPlainPods();
  ApplyAllowFrontendToWorker();
  std::string dir = CertDir(), ca_cert = state_ + "/pki/ca.pem", ca_key = state_ + "/pki/ca.key";
  auto foreign = WriteForeignDomainLeaf(dir, {"shop", "frontend"});
  auto self_signed = WriteSelfSignedLeaf(dir, {"shop", "frontend"}, kTrustDomain);
  auto other_sa = WriteLeafFromCa(dir, {"shop", "api"}, kTrustDomain, ca_cert, ca_key);
  auto allowed = WriteLeafFromCa(dir, {"shop", "frontend"}, kTrustDomain, ca_cert, ca_key);
  auto expired = WriteExpiredLeafFromCa(dir, {"shop", "frontend"}, kTrustDomain, ca_cert, ca_key);
  for (auto* files : {&foreign, &self_signed, &other_sa, &allowed, &expired}) ASSERT_TRUE(files->ok()) << files->error().Message();
  auto with = [](const Result<CertFiles>& f) { return std::vector<std::string>{"--cert", f->cert_path, "--key", f->key_path}; };
  std::string target = WorkerIp() + ":8080";

  // Control: a certificate of the allowed identity from the cluster's CA gets through, and the
  // destination presents the worker's identity.
  auto ok = TlsProbe(with(allowed), target);
  EXPECT_EQ(ok.value("status", 0), 200) << ok;
  EXPECT_EQ(ok.value("peer_uri", ""), "spiffe://cluster.local/ns/shop/sa/worker") << ok;

  for (auto [name, args] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"foreign trust domain", with(foreign)}, {"self-signed", with(self_signed)},
           {"expired", with(expired)}, {"no certificate", {}}}) {
    auto r = TlsProbe(args, target);
    EXPECT_EQ(r.value("tcp", ""), "ok") << name << ": " << r;
    EXPECT_NE(r.value("status", 0), 200) << name << " got through: " << r;
    EXPECT_EQ(r.value("handshake", ""), "failed") << name << ": " << r;
  }
  // A valid certificate of an identity the policy does not allow: authenticated, then refused.
  auto refused = TlsProbe(with(other_sa), target);
  EXPECT_EQ(refused.value("handshake", ""), "ok") << refused;
  EXPECT_EQ(refused.value("status", 0), 403) << refused;
  EXPECT_NE(refused.value("reason", "").find("policy"), std::string::npos) << refused;
  // The allowed identity may not use worker's tunnel to reach another pod or a mesh port.
  std::string frontend_ip = PodByName("frontend").value("ip", "");
  for (const std::string& forbidden : {frontend_ip + ":9000", WorkerIp() + ":15006", std::string("127.0.0.1:8080")}) {
    auto r = TlsProbe(with(allowed), forbidden);
    EXPECT_EQ(r.value("status", 0), 403) << forbidden << ": " << r;
  }
}

TEST_F(MtlsE2eTest, CertificatesRotateWhileExistingAndNewConnectionsKeepWorking) {
  StartPlainPods();
  ApplyAllowFrontendToWorker();
  std::string dir = CertDir();
  auto client = WriteLeafFromCa(dir, {"shop", "frontend"}, kTrustDomain, state_ + "/pki/ca.pem", state_ + "/pki/ca.key");
  ASSERT_TRUE(client.ok()) << client.error().Message();
  auto serial = [&] {
    return TlsProbe({"--cert", client->cert_path, "--key", client->key_path}, WorkerIp() + ":8080").value("peer_serial", "");
  };
  std::string first = serial();
  ASSERT_FALSE(first.empty()) << "no serial reported by the worker's tunnel";
  // A connection opened now must outlive the rotation and still carry bytes after it.
  auto held = std::async(std::launch::async, [&] {
    return ExecJson("shop", "deploy/frontend", FERRY_PROBE_BIN,
                    {"hold", "--to", WorkerIp() + ":8080", "--seconds", "85", "--final-echo", "1"}, std::chrono::seconds(150));
  });
  // 2-minute certificates renew at half life (±10 % jitter): within ~66 s.
  auto rotated = WaitFor([&] { return serial() != first; }, std::chrono::seconds(100));
  ASSERT_TRUE(rotated) << "worker's certificate serial " << first << " did not change within 100 s";
  std::cout << "worker's certificate rotated after " << rotated->count() << " ms\n";
  EXPECT_EQ(Outcome("deploy/frontend", WorkerIp() + ":8080"), "ok") << "new connection after rotation";
  auto held_result = held.get();
  EXPECT_EQ(held_result.value("outcome", ""), "still-open-echo-ok") << held_result;
}

TEST_F(MtlsE2eTest, NodeCredentialObtainsOnlyIdentitiesOfItsOwnPods) {
  std::string bundle;
  {
    std::ifstream in(state_ + "/pki/ca.pem");
    bundle.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto token = certs::ReadNodeTokenFile(state_ + "/pki/node-1.token");
  ASSERT_TRUE(token.ok()) << token.error().Message();
  certs::GrpcCertificateSigner signer(certs::MakeControllerChannel("198.19.0.1:15012", bundle, *token));
  auto ask = [&](const std::string& sa) {
    auto key = identity::WorkloadKey::Generate();
    auto id = identity::SpiffeId::Make(kTrustDomain, "shop", sa);
    auto csr = key->CreateCsrPem(*id);
    return signer.Sign(*csr, std::chrono::seconds(0));
  };
  // The controller learns placements from the inventory a moment after the pods start.
  Result<certs::SignedCertificate> own = MakeError("not asked yet");
  auto signed_own = WaitFor([&] { return (own = ask("frontend")).ok(); });  // frontend runs on node-1
  ASSERT_TRUE(signed_own) << "node-1 could not obtain its own pod's identity: " << own.error().Message();
  EXPECT_EQ(own->spiffe_id, "spiffe://cluster.local/ns/shop/sa/frontend");
  auto other = ask("worker");  // worker runs on node-2 only
  ASSERT_FALSE(other.ok()) << "node-1's credential obtained node-2's identity " << other->spiffe_id;
  std::cout << "refused: " << other.error().Message() << "\n";
  // Without the credential nothing is signed at all.
  certs::GrpcCertificateSigner anonymous(certs::MakeControllerChannel("198.19.0.1:15012", bundle, "not-a-token"));
  auto key = identity::WorkloadKey::Generate();
  auto frontend_id = identity::SpiffeId::Make(kTrustDomain, "shop", "frontend");
  auto csr = key->CreateCsrPem(*frontend_id);
  EXPECT_FALSE(anonymous.Sign(*csr, std::chrono::seconds(0)).ok());
}

}  // namespace
}  // namespace ferry::vmtest
