// Engines running FakeXorLeg: a handler for either end of a tunnel, and a tunnel of two engines
// (client -> engine A, initiator -> engine B, acceptor -> server), torn down in order.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "agent/proxy/proxy.h"
#include "fake_leg.h"
#include "loopback.h"

namespace ferry::proxy::testing {

inline std::string PseudoRandomBytes(size_t size, uint32_t seed) {
  std::mt19937 gen(seed);
  std::string data(size, '\0');
  for (auto& c : data) c = static_cast<char>(gen());
  return data;
}

inline ProxyOptions LegTestOptions() {
  ProxyOptions options;
  options.workers = 2;
  options.buffers_per_worker = 64;
  options.buffer_size = 16384;
  return options;
}

// Initiator: every client is relayed to `next_hop` through an initiator leg asking for
// `final_target`. Acceptor: every client is an acceptor leg; requests are allowed (relayed to
// their target) unless set_deny(true).
class LegHandler : public ConnectionHandler {
 public:
  enum class Role { kInitiator, kAcceptor };

  LegHandler(Role role, FakeLegOptions leg_options, Ipv4Endpoint next_hop = {},
             Ipv4Endpoint final_target = {})
      : role_(role), leg_options_(std::move(leg_options)), next_hop_(next_hop),
        final_target_(final_target) {}

  void set_deny(bool deny) { deny_ = deny; }

  Decision OnAccept(const AcceptedConnection& conn) override {
    auto info = std::make_shared<ConnectionInfo>();
    info->source = conn.peer.ToString();
    if (role_ == Role::kInitiator) {
      info->kind = "initiator";
      auto leg = std::make_unique<FakeXorLeg>(FakeXorLeg::Role::kInitiator, final_target_,
                                              leg_options_, observer);
      return ForwardPlan{NewUpstreamSocket(), next_hop_, info, std::move(leg)};
    }
    info->kind = "acceptor";
    return AcceptLegPlan{std::make_unique<FakeXorLeg>(FakeXorLeg::Role::kAcceptor, Ipv4Endpoint{},
                                                      leg_options_, observer),
                         info};
  }

  Decision OnLegRequest(const AcceptedConnection& /*conn*/, const LegRequest& request,
                        const ConnectionInfo& info) override {
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
    }
    if (deny_) return DenyPlan{"denied by test", LegRefusal::kForbidden};
    auto tunneled = std::make_shared<ConnectionInfo>(info);
    tunneled->kind = "tunneled";
    tunneled->source_sa = request.peer_identity;
    return ForwardPlan{NewUpstreamSocket(), request.target, tunneled};
  }

  void OnClosed(const ConnectionInfo& /*info*/, const ConnectionStats& stats) override {
    std::lock_guard lock(mutex_);
    closed_.push_back(stats);
  }

  std::vector<LegRequest> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::vector<ConnectionStats> closed() {
    std::lock_guard lock(mutex_);
    return closed_;
  }

  std::shared_ptr<FakeLegObserver> observer = std::make_shared<FakeLegObserver>();

 private:
  Role role_;
  FakeLegOptions leg_options_;
  Ipv4Endpoint next_hop_;
  Ipv4Endpoint final_target_;
  std::atomic<bool> deny_{false};
  std::mutex mutex_;
  std::vector<LegRequest> requests_;
  std::vector<ConnectionStats> closed_;
};

// One Proxy with one loopback listener. `handler` must outlive it.
struct EngineUnderTest {
  EngineUnderTest(ConnectionHandler* handler, const ProxyOptions& options) {
    auto created = Proxy::Create(options, handler);
    if (!created.ok()) {
      ADD_FAILURE() << created.error().Message();
      return;
    }
    proxy = std::move(created).value();
    UniqueFd listener = BoundSocket(1024);
    address = LocalAddress(listener.get());
    auto id = proxy->AddListener(std::move(listener));
    if (!id.ok()) ADD_FAILURE() << id.error().Message();
  }
  ProxyStats stats() const { return proxy->Stats(); }

  std::unique_ptr<Proxy> proxy;
  Ipv4Endpoint address;
};

// client -> A (initiator leg) -> B (acceptor leg) -> server. Members are built B first (A needs
// B's address) and destroyed A first.
struct TunnelUnderTest {
  explicit TunnelUnderTest(Ipv4Endpoint server, FakeLegOptions legs = {},
                           ProxyOptions a_options = LegTestOptions(),
                           ProxyOptions b_options = LegTestOptions())
      : acceptor(LegHandler::Role::kAcceptor, legs),
        b(&acceptor, b_options),
        initiator(LegHandler::Role::kInitiator, legs, b.address, server),
        a(&initiator, a_options) {}

  // Both engines closed `count` connections and hold none.
  bool AllClosed(size_t count) {
    return a.stats().active == 0 && b.stats().active == 0 && initiator.closed().size() == count &&
           acceptor.closed().size() == count;
  }

  LegHandler acceptor;
  EngineUnderTest b;
  LegHandler initiator;
  EngineUnderTest a;
};

// The client's view of a relay that resets it: reading ends with ECONNRESET.
inline void ExpectReset(int fd) {
  SetReceiveTimeout(fd, std::chrono::seconds(30));
  StreamEnd end = ReadToEnd(fd);
  EXPECT_EQ(end.error, ECONNRESET);
}

}  // namespace ferry::proxy::testing
