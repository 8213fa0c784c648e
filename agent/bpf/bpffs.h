// The BPF filesystem the datapath pins its maps and links in.
#pragma once

#include <string>

#include "common/result.h"

namespace ferry::agent {

inline constexpr const char* kDefaultBpffsMount = "/sys/fs/bpf";

// Mounts bpffs at `mount_point` unless a bpffs is already mounted there (many hosts do not mount
// it by default).
Result<void> EnsureBpffsMounted(const std::string& mount_point);

// Creates `dir` and its missing parents and checks that it is on bpffs (pins elsewhere fail late
// and obscurely inside libbpf).
Result<void> CreatePinDirectory(const std::string& dir);

bool PathExists(const std::string& path);

// Removes `dir` and everything under it. Unpinning a link or map drops the pin's reference; the
// object goes away once no fd refers to it any more. A missing dir is not an error.
Result<void> RemovePinTree(const std::string& dir);

}  // namespace ferry::agent
