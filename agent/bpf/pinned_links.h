// Attaching programs through pinned bpf_links, and taking such links over after an agent restart.
//
// A pinned link stays attached while the agent is down (fail closed) and is never detached to be
// replaced: a new agent swaps its program into the existing link (BPF_LINK_UPDATE, 5.7 for cgroup
// links, 5.9 for sk_lookup netns links), so there is no instant without a program attached.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <string>

#include "agent/bpf/libbpf_handles.h"
#include "common/result.h"

namespace ferry::agent {

// Where a link belongs. The id lets a pinned link be checked before it is taken over: a pin left
// for a cgroup or netns that has since been recreated must not be reused.
struct LinkTarget {
  bpf_link_type type = BPF_LINK_TYPE_UNSPEC;  // BPF_LINK_TYPE_CGROUP or BPF_LINK_TYPE_NETNS
  int fd = -1;                                // cgroup directory or netns fd
  uint64_t id = 0;                            // cgroup id (its inode), or netns inode
  std::string description;                    // for errors, e.g. "cgroup /sys/fs/cgroup/kubepods"
};

// Leaves `object`'s program attached to `target` through a link pinned at `pin_path`: takes over a
// matching pinned link, replaces a stale one (attach first, then re-pin), or attaches a new one.
Result<void> InstallPinnedLink(const LoadedBpfObject& object, const LinkTarget& target,
                               const std::string& pin_path);

// For a pinned link whose target still exists: swaps in `object`'s program. A link whose target is
// gone (netns destroyed while the agent was down) is unpinned instead. Returns whether it was kept.
Result<bool> RefreshPinnedLink(const LoadedBpfObject& object, const std::string& pin_path);

// Detaches the link pinned at `pin_path` (even if someone else holds an fd to it) and removes the
// pin. A missing pin is not an error.
Result<void> RemovePinnedLink(const std::string& pin_path);

}  // namespace ferry::agent
