#include "agent/metrics/workload_names.h"

#include <algorithm>

#include "common/ipv4.h"

namespace ferry::metrics {

namespace {

// Kubernetes' rand.String alphabet (no vowels, no 0/1/3): generated name suffixes use it.
bool IsGeneratedChar(char c) {
  return std::string_view("bcdfghjklmnpqrstvwxz2456789").find(c) != std::string_view::npos;
}

bool IsGenerated(std::string_view s, size_t min_len, size_t max_len) {
  return s.size() >= min_len && s.size() <= max_len && std::all_of(s.begin(), s.end(), IsGeneratedChar);
}

bool IsOrdinal(std::string_view s) {
  return !s.empty() && s.size() <= 5 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Splits "a-b" at its last dash; nullopt when there is none or either side would be empty.
std::optional<std::pair<std::string_view, std::string_view>> SplitLast(std::string_view s) {
  size_t dash = s.rfind('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == s.size()) return std::nullopt;
  return std::make_pair(s.substr(0, dash), s.substr(dash + 1));
}

}  // namespace

std::string WorkloadFromPodName(std::string_view pod_name) {
  auto last = SplitLast(pod_name);
  if (!last) return std::string(pod_name);
  auto [rest, suffix] = *last;
  if (IsOrdinal(suffix)) return std::string(rest);
  if (!IsGenerated(suffix, 5, 5)) return std::string(pod_name);
  // A Deployment's pod: a pod-template-hash (up to 10 generated chars) before the suffix.
  if (auto hash = SplitLast(rest); hash && IsGenerated(hash->second, 6, 10)) return std::string(hash->first);
  return std::string(rest);
}

void WorkloadDirectory::BuildLocked(const v1::PolicySnapshot& snapshot) {
  if (built_ && version_ == snapshot.version()) return;
  by_ip_.clear();
  by_identity_.clear();
  for (const auto& w : snapshot.workloads()) {
    std::string workload = WorkloadFromPodName(w.name());
    auto [it, inserted] = by_identity_.try_emplace({w.namespace_(), w.service_account()}, workload);
    if (!inserted && it->second != workload) it->second.clear();  // two workloads share the identity
    if (auto addr = ParseIpv4(w.ip())) by_ip_[*addr] = Peer{workload, w.namespace_(), w.service_account()};
  }
  built_ = true;
  version_ = snapshot.version();
}

std::optional<Peer> WorkloadDirectory::Lookup(const v1::PolicySnapshot& snapshot, uint32_t ip) {
  std::lock_guard lock(mu_);
  BuildLocked(snapshot);
  auto it = by_ip_.find(ip);
  if (it == by_ip_.end()) return std::nullopt;
  return it->second;
}

std::string WorkloadDirectory::WorkloadOf(const v1::PolicySnapshot& snapshot, std::string_view ns, std::string_view sa) {
  std::lock_guard lock(mu_);
  BuildLocked(snapshot);
  auto it = by_identity_.find(std::make_pair(std::string(ns), std::string(sa)));
  return it == by_identity_.end() ? std::string() : it->second;
}

Peer PeerFor(std::string_view name, std::string_view ns, std::string_view sa, WorkloadDirectory& directory,
             const v1::PolicySnapshot& snapshot) {
  Peer peer{"", std::string(ns), std::string(sa)};
  if (name.starts_with("spiffe://")) {
    peer.workload = directory.WorkloadOf(snapshot, ns, sa);
    return peer;
  }
  if (auto endpoint = ParseIpv4Endpoint(name)) {
    if (auto known = directory.Lookup(snapshot, endpoint->addr)) {
      peer.workload = std::move(known->workload);
      if (peer.ns.empty()) peer.ns = std::move(known->ns);
      if (peer.principal.empty()) peer.principal = std::move(known->principal);
    }
    return peer;
  }
  if (size_t slash = name.find('/'); slash != std::string_view::npos) {
    peer.workload = WorkloadFromPodName(name.substr(slash + 1));
    if (peer.ns.empty()) peer.ns = std::string(name.substr(0, slash));
  }
  return peer;
}

}  // namespace ferry::metrics
