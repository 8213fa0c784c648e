// Loads Ferry's BPF programs for one node, pins maps and links under the node's pin directory, and
// gives the agent typed access to the maps. Restart-safe: a second Open() on the same pin directory
// reuses the pinned maps and swaps programs into the pinned links, so no connection ever slips through
// a detach/attach gap.
#pragma once

#include <linux/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/ipv4.h"
#include "common/result.h"
// clang-format off
#include "ferry_abi.h"
// clang-format on

namespace ferry::agent {

struct BpfDatapathOptions {
  std::string pin_dir;     // e.g. /sys/fs/bpf/ferry/<node>; created if missing (bpffs mounted if needed)
  std::string pod_cgroup;  // cgroup v2 directory whose subtree holds this node's pod processes
};

// What the datapath needs to capture one pod.
struct PodAttachment {
  std::string pod_key;         // stable and filesystem-safe, e.g. "<namespace>_<name>"; names the pinned sk_lookup link
  uint64_t netns_cookie = 0;   // SO_NETNS_COOKIE of a socket in the pod's netns
  uint32_t pod_ip = 0;         // host byte order
  int netns_fd = -1;           // open fd of the pod's netns (for the sk_lookup attach)
  int inbound_listener_fd = -1;  // the agent's 15006 listener inside the pod's netns
};

class BpfDatapath {
 public:
  static Result<std::unique_ptr<BpfDatapath>> Open(const BpfDatapathOptions& options);
  virtual ~BpfDatapath() = default;

  // Puts the pod in the enrolled map, its inbound listener in the SOCKHASH, and attaches (or, after a
  // restart, takes over the pinned) sk_lookup link in its netns. Idempotent. On failure the pod is
  // left fully unenrolled (the caller should fail the pod's start rather than run it unmeshed).
  virtual Result<void> EnrollPod(const PodAttachment& pod) = 0;
  // Reverses EnrollPod: detaches and unpins the pod's sk_lookup link, removes its map entries.
  virtual Result<void> UnenrollPod(const std::string& pod_key, uint64_t netns_cookie, uint32_t pod_ip) = 0;

  // Looks up and deletes the original destination recorded by sockops for a client socket
  // (client = the peer address of the accepted socket, host byte order). nullopt = no record.
  virtual Result<std::optional<Ipv4Endpoint>> TakeOriginalDestination(uint64_t netns_cookie,
                                                                       Ipv4Endpoint client) = 0;

  // Datapath counters summed over CPUs, indexed by enum ferry_counter. They live in a pinned map, so
  // they survive agent restarts; FERRY_CTR_ORIG_DST_MISSING is counted by this process only.
  virtual std::array<uint64_t, FERRY_CTR_MAX> Counters() = 0;

  // Removes everything pinned under pin_dir (links detach when their last reference goes).
  static Result<void> Uninstall(const std::string& pin_dir);

  // Loads every BPF program once without pinning or attaching anything: an error names the first
  // hook this kernel cannot run (and why). For preflight checks; Open() fails the same way.
  static Result<void> ProbeKernelSupport();
};

}  // namespace ferry::agent
