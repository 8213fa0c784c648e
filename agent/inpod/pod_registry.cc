#include "agent/inpod/pod_registry.h"

namespace ferry::inpod {

namespace {

void Erase(PodRegistry::Index& index, const EnrolledPod& pod) {
  index.by_key.erase(pod.spec.Key());
  auto ip = index.by_ip.find(pod.spec.ip);
  if (ip != index.by_ip.end() && ip->second->spec.Key() == pod.spec.Key()) index.by_ip.erase(ip);
  index.by_listener.erase(pod.outbound_listener_id);
  index.by_listener.erase(pod.inbound_listener_id);
  if (pod.tunnel_listener_id != 0) index.by_listener.erase(pod.tunnel_listener_id);
}

template <typename Map, typename K>
typename Map::mapped_type Find(const Map& m, const K& k) {
  auto it = m.find(k);
  return it == m.end() ? nullptr : it->second;
}

}  // namespace

std::shared_ptr<const PodRegistry::Index> PodRegistry::Snapshot() const {
  std::lock_guard lock(mu_);
  return index_;
}

std::shared_ptr<const EnrolledPod> PodRegistry::ByKey(const std::string& key) const {
  return Find(Snapshot()->by_key, key);
}
std::shared_ptr<const EnrolledPod> PodRegistry::ByIp(uint32_t ip) const { return Find(Snapshot()->by_ip, ip); }
std::shared_ptr<const EnrolledPod> PodRegistry::ByListener(uint64_t id) const {
  return Find(Snapshot()->by_listener, id);
}

std::vector<PodSpec> PodRegistry::Specs() const {
  std::vector<PodSpec> out;
  for (const auto& [key, pod] : Snapshot()->by_key) out.push_back(pod->spec);
  return out;
}

void PodRegistry::Put(std::shared_ptr<const EnrolledPod> pod) {
  std::lock_guard lock(mu_);
  auto next = std::make_shared<Index>(*index_);
  if (auto old = Find(next->by_key, pod->spec.Key())) Erase(*next, *old);
  next->by_key[pod->spec.Key()] = pod;
  next->by_ip[pod->spec.ip] = pod;
  next->by_listener[pod->outbound_listener_id] = pod;
  next->by_listener[pod->inbound_listener_id] = pod;
  if (pod->tunnel_listener_id != 0) next->by_listener[pod->tunnel_listener_id] = pod;
  index_ = std::move(next);
}

std::shared_ptr<const EnrolledPod> PodRegistry::Remove(const std::string& key) {
  std::lock_guard lock(mu_);
  auto old = Find(index_->by_key, key);
  if (!old) return nullptr;
  auto next = std::make_shared<Index>(*index_);
  Erase(*next, *old);
  index_ = std::move(next);
  return old;
}

}  // namespace ferry::inpod
