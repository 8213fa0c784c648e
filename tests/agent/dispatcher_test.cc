#include "agent/dispatch/dispatcher.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <map>
#include <set>

#include "dispatcher_fixture.h"
#include "test_result.h"

namespace ferry::dispatch {
namespace {

TEST_F(DispatcherTest, NoOriginalDestinationIsDenied) {
  auto d = dispatcher_.OnAccept({-1, {kFrontendIp, 40001}, {kFrontendIp, 15001}, 11});
  EXPECT_EQ(DenyReasonOf(d).rfind("no_original_destination", 0), 0u) << DenyReasonOf(d);
}

TEST_F(DispatcherTest, LocalPodWithoutPolicyIsDenied) {
  EXPECT_EQ(DenyReasonOf(Outbound({kApiIp, 8080})).rfind("policy", 0), 0u);
  EXPECT_EQ(dispatcher_.counters().denied[static_cast<size_t>(DenyReason::kPolicy)].load(), 1u);
}

TEST_F(DispatcherTest, AllowedLocalConnectionIsDeliveredFromTheDestinationPod) {
  policy_.Apply(AllowFrontendToApi({8080}));
  auto d = Outbound({kApiIp, 8080});
  auto* plan = std::get_if<proxy::ForwardPlan>(&d);
  ASSERT_NE(plan, nullptr) << DenyReasonOf(d);
  EXPECT_EQ(plan->target, (Ipv4Endpoint{kApiIp, 8080}));
  EXPECT_EQ(plan->info->kind, kKindLocal);
  EXPECT_EQ(plan->info->source, "app/frontend");
  EXPECT_EQ(plan->info->destination, "app/api");
  EXPECT_EQ(sockets_.created_in, std::vector<std::string>{"app/api"});
  // Another port is not covered by the TCPRoute.
  EXPECT_FALSE(DenyReasonOf(Outbound({kApiIp, 9090}, 40002)).empty());
}

TEST_F(DispatcherTest, ReservedPortsOfMeshPodsAreDeniedEvenWithPolicy) {
  policy_.Apply(AllowFrontendToApi({}));
  for (uint16_t port : {15000, 15001, 15006, 15008, 15020}) {
    EXPECT_EQ(DenyReasonOf(Outbound({kApiIp, port}, port)).rfind("reserved_port", 0), 0u) << port;
  }
}

TEST_F(DispatcherTest, EgressPassesFromTheSourcePodUnlessDenied) {
  auto d = Outbound({kOutsideIp, 443});
  auto* plan = std::get_if<proxy::ForwardPlan>(&d);
  ASSERT_NE(plan, nullptr);
  EXPECT_EQ(plan->info->kind, kKindEgress);
  EXPECT_EQ(sockets_.created_in, std::vector<std::string>{"app/frontend"});
  v1::PolicySnapshot deny_egress;
  deny_egress.mutable_mesh()->set_deny_egress(true);
  policy_.Apply(deny_egress);
  EXPECT_EQ(DenyReasonOf(Outbound({kOutsideIp, 443}, 40003)).rfind("egress_denied", 0), 0u);
}

TEST_F(DispatcherTest, PlaintextInboundIsDeniedUnlessPermissiveOrExempt) {
  EXPECT_EQ(DenyReasonOf(Inbound({kOutsideIp, 5555}, 8080)).rfind("unauthenticated", 0), 0u);
  v1::PolicySnapshot exempt;
  exempt.mutable_mesh()->add_inbound_exempt_ips("198.19.9.9");
  policy_.Apply(exempt);
  EXPECT_TRUE(std::holds_alternative<proxy::ForwardPlan>(Inbound({kOutsideIp, 5555}, 8080)));
  EXPECT_FALSE(DenyReasonOf(Inbound({kOutsideIp + 1, 5555}, 8080)).empty());
  v1::PolicySnapshot permissive;
  permissive.mutable_mesh()->set_permissive(true);
  policy_.Apply(permissive);
  EXPECT_TRUE(std::holds_alternative<proxy::ForwardPlan>(Inbound({kOutsideIp + 1, 5555}, 8080)));
  // Even permissive mode never lets anything at the agent's own ports.
  EXPECT_EQ(DenyReasonOf(Inbound({kOutsideIp + 1, 5555}, 15001)).rfind("reserved_port", 0), 0u);
}

TEST_F(DispatcherTest, UnknownListenerIsDenied) {
  EXPECT_EQ(DenyReasonOf(dispatcher_.OnAccept({-1, {kFrontendIp, 1}, {kFrontendIp, 15001}, 999})).rfind("unknown_listener", 0), 0u);
}

TEST_F(DispatcherTest, LiveConnectionsAreReEvaluatedAgainstNewPolicyAndEnrollment) {
  policy_.Apply(AllowFrontendToApi({8080}));
  auto d = Outbound({kApiIp, 8080});
  auto& info = *std::get<proxy::ForwardPlan>(d).info;
  EXPECT_FALSE(dispatcher_.NoLongerAllowed(info));
  policy_.Apply(AllowFrontendToApi({9090}));
  EXPECT_TRUE(dispatcher_.NoLongerAllowed(info));
  policy_.Apply(AllowFrontendToApi({8080}));
  EXPECT_FALSE(dispatcher_.NoLongerAllowed(info));
  pods_.Remove("app/api");
  EXPECT_TRUE(dispatcher_.NoLongerAllowed(info));
}

// The api Service (VIP 198.19.128.10:80 -> pods on 8080): one endpoint on this node, one elsewhere.
v1::PolicySnapshot WithApiService(v1::PolicySnapshot s, bool with_endpoints) {
  auto* local = s.add_workloads();
  local->set_uid("uid-api");
  local->set_ip("198.18.1.3");
  auto* remote = s.add_workloads();
  remote->set_uid("uid-api-2");
  remote->set_ip("198.18.2.3");
  auto* svc = s.add_services();
  svc->set_namespace_("app");
  svc->set_name("api");
  svc->set_vip("198.19.128.10");
  auto* port = svc->add_ports();
  port->set_port(80);
  port->set_target_port(8080);
  port->set_protocol("TCP");
  if (with_endpoints) {
    svc->add_endpoint_uids("uid-api");
    svc->add_endpoint_uids("uid-api-2");
  }
  return s;
}

constexpr uint32_t kApiVip = 0xC6138000 + 10;  // 198.19.128.10

TEST_F(DispatcherTest, ServiceVipIsResolvedToItsEndpoints) {
  policy_.Apply(WithApiService(AllowFrontendToApi({8080}), true));
  std::set<uint32_t> seen;
  for (uint16_t i = 0; i < 4; ++i) {
    auto d = Outbound({kApiVip, 80}, static_cast<uint16_t>(41000 + i));
    auto* plan = std::get_if<proxy::ForwardPlan>(&d);
    ASSERT_NE(plan, nullptr) << DenyReasonOf(d);
    EXPECT_EQ(plan->target.port, 8080);
    seen.insert(plan->target.addr);
    // The local endpoint is policy-checked and delivered locally; the other node's goes out remote.
    EXPECT_EQ(plan->info->kind, plan->target.addr == kApiIp ? kKindLocal : kKindRemote);
  }
  EXPECT_EQ(seen, (std::set<uint32_t>{kApiIp, 0xC6120203}));
  // A port the Service does not expose is not a service address: plain egress to the VIP.
  auto other = Outbound({kApiVip, 81}, 41010);
  ASSERT_TRUE(std::holds_alternative<proxy::ForwardPlan>(other));
  EXPECT_EQ(std::get<proxy::ForwardPlan>(other).info->kind, kKindEgress);
}

TEST_F(DispatcherTest, ServiceVipPolicyAppliesToTheChosenLocalEndpoint) {
  policy_.Apply(WithApiService(AllowFrontendToApi({9090}), true));
  int denied = 0;
  for (uint16_t i = 0; i < 4; ++i) denied += !DenyReasonOf(Outbound({kApiVip, 80}, static_cast<uint16_t>(42000 + i))).empty();
  EXPECT_EQ(denied, 2) << "the local endpoint must be denied by policy every time it is picked";
}

TEST_F(DispatcherTest, ServiceWithoutEndpointsIsDenied) {
  policy_.Apply(WithApiService(AllowFrontendToApi({8080}), false));
  EXPECT_EQ(DenyReasonOf(Outbound({kApiVip, 80})).rfind("no_endpoints", 0), 0u);
}

}  // namespace
}  // namespace ferry::dispatch
