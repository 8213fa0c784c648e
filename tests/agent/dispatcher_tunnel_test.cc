// The dispatcher's decisions for the mTLS tunnel: remote mesh pods are dialled on 15008 with a
// client leg, a 15008 listener accepts with a server leg, and the tunnel request is authorized
// with the identity from the peer's certificate (the leg's LegRequest), never from an address.
#include <gtest/gtest.h>

#include "dispatcher_fixture.h"
#include "test_result.h"

namespace ferry::dispatch {
namespace {

constexpr uint32_t kWorkerIp = 0xC6120205;  // 198.18.2.5, on another node
constexpr uint64_t kApiTunnelListener = 23;

// A leg that is never driven: the dispatcher only creates and hands them over.
class InertLegForTest : public proxy::SecureLeg {
 public:
  explicit InertLegForTest(std::string what) : what(std::move(what)) {}
  proxy::LegProgress Start(std::vector<uint8_t>*) override { return {}; }
  proxy::LegProgress OnSetupBytes(std::span<const uint8_t>, std::vector<uint8_t>*) override { return {}; }
  const proxy::LegRequest& request() const override { return request_; }
  proxy::LegProgress Accept(std::vector<uint8_t>*) override { return {}; }
  proxy::LegProgress Refuse(proxy::LegRefusal, std::string_view, std::vector<uint8_t>*) override { return {}; }
  std::vector<uint8_t> TakeEarlyPlaintext() override { return {}; }
  Result<bool> OffloadToKernel(int) override { return false; }
  Result<void> Protect(std::span<const uint8_t>, std::vector<uint8_t>*) override { return Ok(); }
  Result<proxy::LegUnprotectResult> Unprotect(std::span<const uint8_t>, std::vector<uint8_t>*,
                                              std::vector<uint8_t>*) override {
    return proxy::LegUnprotectResult{};
  }
  Result<proxy::KernelRecordResult> ReadKernelRecord(int, std::span<uint8_t>) override {
    return proxy::KernelRecordResult{};
  }
  Result<void> Finish(int, std::vector<uint8_t>*) override { return Ok(); }
  std::string_view mode() const override { return "setup"; }
  std::string what;

 private:
  proxy::LegRequest request_;
};

// Fake credentials store: pods listed in `without_certificate` have none.
class FakeTunnelLegs : public TunnelLegs {
 public:
  Result<std::unique_ptr<proxy::SecureLeg>> Client(const inpod::EnrolledPod& source, const policy::Identity& dest,
                                                   Ipv4Endpoint target) override {
    if (without_certificate.count(source.spec.Key())) return MakeError("no certificate");
    return std::unique_ptr<proxy::SecureLeg>(
        std::make_unique<InertLegForTest>("client " + source.spec.Key() + " -> " + dest.ToString() + " " + target.ToString()));
  }
  Result<std::unique_ptr<proxy::SecureLeg>> Server(const inpod::EnrolledPod& dest) override {
    if (without_certificate.count(dest.spec.Key())) return MakeError("no certificate");
    return std::unique_ptr<proxy::SecureLeg>(std::make_unique<InertLegForTest>("server " + dest.spec.Key()));
  }
  Result<policy::Identity> PeerIdentity(const std::string& id) const override {
    const std::string prefix = "spiffe://cluster.local/ns/";
    if (id.rfind(prefix, 0) != 0) return MakeError("foreign trust domain");
    std::string rest = id.substr(prefix.size());
    auto slash = rest.find("/sa/");
    return policy::Identity{rest.substr(0, slash), rest.substr(slash + 4)};
  }
  std::set<std::string> without_certificate;
};

class DispatcherTunnelTest : public DispatcherTest {
 protected:
  void SetUp() override {
    DispatcherTest::SetUp();
    AddPod("app", "api", "api", kApiIp, 2, 21, 22, kApiTunnelListener);  // replaces it, with a 15008 listener
  }
  static v1::PolicySnapshot WithRemoteWorker(v1::PolicySnapshot s) {
    auto* w = s.add_workloads();
    w->set_uid("uid-worker");
    w->set_namespace_("app");
    w->set_service_account("worker");
    w->set_ip("198.18.2.5");
    w->set_node("node-2");
    return s;
  }
  proxy::Decision TunnelAccept() { return tunnel_dispatcher_.OnAccept({-1, {kWorkerIp, 50000}, {kApiIp, 15008}, kApiTunnelListener}); }
  proxy::Decision TunnelRequest(const std::string& peer, Ipv4Endpoint target) {
    proxy::ConnectionInfo accepted;
    accepted.kind = kKindTunnel;
    accepted.destination = "app/api";
    return tunnel_dispatcher_.OnLegRequest({-1, {kWorkerIp, 50000}, {kApiIp, 15008}, kApiTunnelListener},
                                           proxy::LegRequest{target, peer}, accepted);
  }
  proxy::Decision RemoteOutbound(Ipv4Endpoint original, uint16_t client_port) {
    orig_.records[{1, client_port}] = original;
    return tunnel_dispatcher_.OnAccept({-1, {kFrontendIp, client_port}, {kFrontendIp, 15001}, 11});
  }

  FakeTunnelLegs legs_;
  Dispatcher tunnel_dispatcher_{pods_, policy_, orig_, sockets_, &legs_};
};

TEST_F(DispatcherTunnelTest, RemoteMeshPodIsDialledOnTheTunnelPortWithAClientLeg) {
  policy_.Apply(WithRemoteWorker({}));
  auto d = RemoteOutbound({kWorkerIp, 8080}, 41000);
  auto* plan = std::get_if<proxy::ForwardPlan>(&d);
  ASSERT_NE(plan, nullptr) << DenyReasonOf(d);
  EXPECT_EQ(plan->target, (Ipv4Endpoint{kWorkerIp, 15008}));
  ASSERT_NE(plan->upstream_leg, nullptr);
  EXPECT_EQ(static_cast<InertLegForTest&>(*plan->upstream_leg).what,
            "client app/frontend -> app/worker 198.18.2.5:8080");
  EXPECT_EQ(plan->info->kind, kKindRemote);
  EXPECT_EQ(plan->info->destination_sa, "worker");
  EXPECT_EQ(sockets_.created_in, std::vector<std::string>{"app/frontend"}) << "dialled from the source pod";
  EXPECT_EQ(tunnel_dispatcher_.counters().remote_tunnel.load(), 1u);
}

TEST_F(DispatcherTunnelTest, SourceWithoutCertificateIsRefusedNotSentInPlaintext) {
  policy_.Apply(WithRemoteWorker({}));
  legs_.without_certificate.insert("app/frontend");
  EXPECT_EQ(DenyReasonOf(RemoteOutbound({kWorkerIp, 8080}, 41001)).rfind("no_certificate", 0), 0u);
  EXPECT_TRUE(sockets_.created_in.empty());
}

TEST_F(DispatcherTunnelTest, ReservedPortOfARemotePodIsDenied) {
  policy_.Apply(WithRemoteWorker({}));
  EXPECT_EQ(DenyReasonOf(RemoteOutbound({kWorkerIp, 15006}, 41002)).rfind("reserved_port", 0), 0u);
}

TEST_F(DispatcherTunnelTest, TunnelListenerAcceptsWithTheDestinationsServerLeg) {
  auto d = TunnelAccept();
  auto* plan = std::get_if<proxy::AcceptLegPlan>(&d);
  ASSERT_NE(plan, nullptr) << DenyReasonOf(d);
  EXPECT_EQ(static_cast<InertLegForTest&>(*plan->leg).what, "server app/api");
  EXPECT_EQ(plan->info->kind, kKindTunnel);
  legs_.without_certificate.insert("app/api");
  EXPECT_EQ(DenyReasonOf(TunnelAccept()).rfind("no_certificate", 0), 0u);
}

TEST_F(DispatcherTunnelTest, TunnelRequestIsAuthorizedWithThePeerCertificateIdentity) {
  policy_.Apply(AllowFrontendToApi({8080}));
  auto allowed = TunnelRequest("spiffe://cluster.local/ns/app/sa/frontend", {kApiIp, 8080});
  auto* plan = std::get_if<proxy::ForwardPlan>(&allowed);
  ASSERT_NE(plan, nullptr) << DenyReasonOf(allowed);
  EXPECT_EQ(plan->target, (Ipv4Endpoint{kApiIp, 8080}));
  EXPECT_EQ(plan->upstream_leg, nullptr);
  EXPECT_EQ(plan->info->source_sa, "frontend");
  EXPECT_EQ(sockets_.created_in, std::vector<std::string>{"app/api"}) << "delivered from the destination pod";
  EXPECT_FALSE(tunnel_dispatcher_.NoLongerAllowed(*plan->info));

  // Another service account, another port, a foreign trust domain, another pod's IP, a mesh port.
  EXPECT_EQ(DenyReasonOf(TunnelRequest("spiffe://cluster.local/ns/app/sa/worker", {kApiIp, 8080})).rfind("policy", 0), 0u);
  EXPECT_EQ(DenyReasonOf(TunnelRequest("spiffe://cluster.local/ns/app/sa/frontend", {kApiIp, 9090})).rfind("policy", 0), 0u);
  EXPECT_EQ(DenyReasonOf(TunnelRequest("spiffe://evil.example/ns/app/sa/frontend", {kApiIp, 8080})).rfind("peer_identity", 0), 0u);
  EXPECT_EQ(DenyReasonOf(TunnelRequest("spiffe://cluster.local/ns/app/sa/frontend", {kFrontendIp, 8080})).rfind("unknown_listener", 0), 0u);
  EXPECT_EQ(DenyReasonOf(TunnelRequest("spiffe://cluster.local/ns/app/sa/frontend", {kApiIp, 15006})).rfind("reserved_port", 0), 0u);

  // Removing the policy: the live tunnel connection is no longer allowed.
  policy_.Apply(v1::PolicySnapshot{});
  EXPECT_TRUE(tunnel_dispatcher_.NoLongerAllowed(*plan->info));
}

}  // namespace
}  // namespace ferry::dispatch
