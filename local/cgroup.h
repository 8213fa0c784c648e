// cgroup v2 helpers for the local cluster: where the unified hierarchy is mounted, creating the
// node/pod tree, moving processes and removing it all again.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/result.h"

namespace ferry::local {

// The cgroup2 mount point, read from /proc/self/mountinfo (it is /sys/fs/cgroup on most systems,
// /sys/fs/cgroup/unified on hybrid ones).
Result<std::string> FindCgroup2Root();

Result<void> MakeCgroup(const std::string& path);  // mkdir -p
Result<void> MoveToCgroup(const std::string& path, pid_t pid);
std::vector<pid_t> CgroupPids(const std::string& path);
// Kills every process in the subtree (cgroup.kill, Linux 5.14) and removes the directories,
// deepest first. Only for cgroups this tool created: everything in them was started by us.
Result<void> RemoveCgroupTree(const std::string& path);

}  // namespace ferry::local
