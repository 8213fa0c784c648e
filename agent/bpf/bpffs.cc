#include "agent/bpf/bpffs.h"

#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <filesystem>
#include <system_error>

namespace ferry::agent {
namespace {

bool IsBpffs(const std::string& path) {
  struct statfs fs {};
  return statfs(path.c_str(), &fs) == 0 && static_cast<unsigned long>(fs.f_type) == BPF_FS_MAGIC;
}

}  // namespace

Result<void> EnsureBpffsMounted(const std::string& mount_point) {
  if (IsBpffs(mount_point)) return Ok();
  std::error_code ec;
  std::filesystem::create_directories(mount_point, ec);
  if (ec) return MakeError("create bpffs mount point " + mount_point, ec.value());
  // mode=0700: pinned objects are the node's datapath; only root may touch them.
  if (mount("bpf", mount_point.c_str(), "bpf", 0, "mode=0700") != 0) {
    return ErrnoError("mount bpffs at " + mount_point);
  }
  return Ok();
}

Result<void> CreatePinDirectory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return MakeError("create pin directory " + dir, ec.value());
  if (!IsBpffs(dir)) return MakeError("pin directory " + dir + " is not on a bpf filesystem", EXDEV);
  return Ok();
}

bool PathExists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

Result<void> RemovePinTree(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) return MakeError("remove pinned objects under " + dir, ec.value());
  return Ok();
}

}  // namespace ferry::agent
