// The pods this agent has enrolled, indexed for the data path.
//
// Readers (io_uring workers deciding about a connection) take an immutable snapshot of the index;
// writers (enrollment, rare) copy, modify and publish a new one. A reader never blocks on a writer
// for longer than a shared_ptr copy.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace ferry::inpod {

// What the enrollment API says about a pod.
struct PodSpec {
  std::string namespace_name;
  std::string name;
  std::string service_account;
  std::string netns_path;
  uint32_t ip = 0;  // host byte order

  std::string Key() const { return namespace_name + "/" + name; }
  // Filesystem- and bpffs-safe form of Key().
  std::string PinKey() const { return namespace_name + "_" + name; }
  bool operator==(const PodSpec&) const = default;
};

struct EnrolledPod {
  PodSpec spec;
  UniqueFd netns;
  uint64_t netns_cookie = 0;
  uint64_t outbound_listener_id = 0;
  uint64_t inbound_listener_id = 0;
  uint64_t tunnel_listener_id = 0;  // <pod ip>:15008, the mTLS tunnel's end in this pod
};

class PodRegistry {
 public:
  struct Index {
    std::map<std::string, std::shared_ptr<const EnrolledPod>> by_key;
    std::map<uint32_t, std::shared_ptr<const EnrolledPod>> by_ip;
    std::map<uint64_t, std::shared_ptr<const EnrolledPod>> by_listener;
  };

  std::shared_ptr<const Index> Snapshot() const;
  std::shared_ptr<const EnrolledPod> ByKey(const std::string& key) const;
  std::shared_ptr<const EnrolledPod> ByIp(uint32_t ip) const;
  std::shared_ptr<const EnrolledPod> ByListener(uint64_t listener_id) const;
  std::vector<PodSpec> Specs() const;

  void Put(std::shared_ptr<const EnrolledPod> pod);  // replaces a pod with the same key
  std::shared_ptr<const EnrolledPod> Remove(const std::string& key);

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Index> index_ = std::make_shared<Index>();
};

}  // namespace ferry::inpod
