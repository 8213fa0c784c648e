// Fakes and a fixture shared by the dispatcher's tests: two pods of namespace "app" on this
// node (frontend, api), fake original-destination records and a socket factory that makes plain
// sockets in the test's own netns.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "agent/dispatch/dispatcher.h"
#include "policy/snapshot_builders.h"

namespace ferry::dispatch {
namespace {

constexpr uint32_t kFrontendIp = 0xC6120102;  // 198.18.1.2
constexpr uint32_t kApiIp = 0xC6120103;       // 198.18.1.3
constexpr uint32_t kOutsideIp = 0xC6130909;   // 198.19.9.9

// Fake of the BPF sockops record: a map the test fills.
class FakeOriginalDestinations : public OriginalDestinations {
 public:
  Result<std::optional<Ipv4Endpoint>> Take(uint64_t cookie, Ipv4Endpoint client) override {
    auto it = records.find({cookie, client.port});
    if (it == records.end()) return std::optional<Ipv4Endpoint>{};
    auto v = it->second;
    records.erase(it);
    return std::optional<Ipv4Endpoint>{v};
  }
  std::map<std::pair<uint64_t, uint16_t>, Ipv4Endpoint> records;
};

// Fake socket factory: plain sockets in the test's own netns, remembering which pod asked.
class FakeSocketFactory : public SocketFactory {
 public:
  Result<UniqueFd> CreateIn(const inpod::EnrolledPod& pod) override {
    created_in.push_back(pod.spec.Key());
    return UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  }
  std::vector<std::string> created_in;
};

v1::PolicySnapshot AllowFrontendToApi(std::vector<uint32_t> ports) {
  v1::PolicySnapshot s;
  auto* rule = ferry::test_snapshots::AddAuthorization(s, "app", "api-from-frontend", "api", "frontend", "TCPRoute", "api-tcp");
  for (auto p : ports) rule->mutable_tcp()->add_ports(p);
  return s;
}

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AddPod("app", "frontend", "frontend", kFrontendIp, 1, 11, 12);
    AddPod("app", "api", "api", kApiIp, 2, 21, 22);
  }
  void AddPod(const char* ns, const char* name, const char* sa, uint32_t ip, uint64_t cookie, uint64_t out_id,
              uint64_t in_id, uint64_t tunnel_id = 0) {
    auto pod = std::make_shared<inpod::EnrolledPod>();
    pod->spec = {ns, name, sa, "/n", ip};
    pod->netns_cookie = cookie;
    pod->outbound_listener_id = out_id;
    pod->inbound_listener_id = in_id;
    pod->tunnel_listener_id = tunnel_id;
    pods_.Put(pod);
  }
  proxy::Decision Outbound(Ipv4Endpoint original, uint16_t client_port = 40000) {
    orig_.records[{1, client_port}] = original;
    return dispatcher_.OnAccept({-1, {kFrontendIp, client_port}, {kFrontendIp, 15001}, 11});
  }
  proxy::Decision Inbound(Ipv4Endpoint from, uint16_t port) {
    return dispatcher_.OnAccept({-1, from, {kApiIp, port}, 22});
  }
  static std::string DenyReasonOf(const proxy::Decision& d) {
    auto* deny = std::get_if<proxy::DenyPlan>(&d);
    return deny ? deny->reason : "";
  }

  inpod::PodRegistry pods_;
  policy::PolicyStore policy_;
  FakeOriginalDestinations orig_;
  FakeSocketFactory sockets_;
  Dispatcher dispatcher_{pods_, policy_, orig_, sockets_};
};

}  // namespace
}  // namespace ferry::dispatch
