// A throwaway "node" for the BPF datapath vmtests: network namespaces joined by veths, a pod
// cgroup, and a BPF pin directory, all with names unique to this process and removed on
// destruction (also when a test fails half-way).
//
//   pod   netns: eth0 198.18.1.2/24, lo also 2001:db8::2 (IPv6 only ever used inside this netns)
//   other netns: eth0 198.18.2.2/24                      (a second pod, never enrolled)
//   peer  netns: 198.18.1.1/24 to pod, 198.18.2.1/24 to other, 198.18.100.9/32 on lo
//                (the "remote service" the pods dial)
#pragma once

#include <string>

#include "common/unique_fd.h"

namespace ferry::vmtest {

class TestTopology {
 public:
  TestTopology();
  ~TestTopology();
  TestTopology(const TestTopology&) = delete;
  TestTopology& operator=(const TestTopology&) = delete;

  // Builds everything; returns an error description, empty on success.
  std::string Create();

  int pod_netns() const { return pod_netns_.get(); }
  int other_netns() const { return other_netns_.get(); }
  int peer_netns() const { return peer_netns_.get(); }
  const std::string& cgroup_dir() const { return cgroup_dir_; }
  const std::string& pin_dir() const { return pin_dir_; }

  static constexpr const char* kPodIp = "198.18.1.2";
  static constexpr const char* kOtherIp = "198.18.2.2";
  static constexpr const char* kRemoteIp = "198.18.100.9";
  static constexpr const char* kPodIp6 = "2001:db8::2";

 private:
  std::string Netns(const char* role) const { return prefix_ + "-" + role; }
  std::string CreateNetworks();

  std::string prefix_;
  std::string cgroup_dir_;
  std::string pin_dir_;
  UniqueFd pod_netns_, other_netns_, peer_netns_;
  bool created_netns_ = false;
};

// The cgroup v2 mount point, read from /proc/self/mountinfo; empty if there is none.
std::string FindCgroup2Mount();

}  // namespace ferry::vmtest
