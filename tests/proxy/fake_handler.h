// A ConnectionHandler for tests: forwards every accepted connection to one target (or denies),
// tags each connection's info with its accept order, and records what closed.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "agent/proxy/proxy_types.h"
#include "loopback.h"

namespace ferry::proxy::testing {

class FakeHandler : public ConnectionHandler {
 public:
  explicit FakeHandler(Ipv4Endpoint target) : target_(target) {}

  void set_deny(bool deny) { deny_ = deny; }

  Decision OnAccept(const AcceptedConnection& conn) override {
    size_t order = accepts_.fetch_add(1);
    if (deny_) return DenyPlan{"denied by test"};
    auto info = std::make_shared<ConnectionInfo>();
    info->source = conn.peer.ToString();
    info->destination = target_.ToString();
    info->destination_port = target_.port;
    info->kind = "outbound";
    // Odd/even accept order lets tests pick a subset of connections by identity.
    info->source_sa = order % 2 == 0 ? "even" : "odd";
    return ForwardPlan{NewUpstreamSocket(), target_, info};
  }

  void OnClosed(const ConnectionInfo& /*info*/, const ConnectionStats& stats) override {
    std::lock_guard lock(mutex_);
    closed_.push_back(stats);
  }

  size_t accepts() const { return accepts_.load(); }
  std::vector<ConnectionStats> closed() {
    std::lock_guard lock(mutex_);
    return closed_;
  }

 private:
  Ipv4Endpoint target_;
  std::atomic<bool> deny_{false};
  std::atomic<size_t> accepts_{0};
  std::mutex mutex_;
  std::vector<ConnectionStats> closed_;
};

}  // namespace ferry::proxy::testing
