#include "agent/xds/snapshot_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "common/unique_fd.h"

namespace ferry::xds {
namespace {

Result<void> WriteAll(int fd, const std::string& data, const std::string& what) {
  for (size_t done = 0; done < data.size();) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("write " + what);
    done += static_cast<size_t>(n);
  }
  return Ok();
}

}  // namespace

Result<void> PersistSnapshot(const std::filesystem::path& path, const v1::PolicySnapshot& snapshot) {
  std::string bytes;
  if (!snapshot.SerializeToString(&bytes)) return MakeError("serialize policy snapshot", EINVAL);
  const std::filesystem::path tmp = path.string() + ".tmp";
  UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return ErrnoError("open " + tmp.string());
  FERRY_TRY(WriteAll(fd.get(), bytes, tmp.string()));
  if (fsync(fd.get()) != 0) return ErrnoError("fsync " + tmp.string());
  fd.Reset();
  if (rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("rename " + tmp.string() + " to " + path.string());
  // The rename itself is durable only once the directory is synced.
  std::filesystem::path dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  UniqueFd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd && fsync(dir_fd.get()) != 0) return ErrnoError("fsync " + dir.string());
  return Ok();
}

Result<std::optional<v1::PolicySnapshot>> LoadSnapshotFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && !ec) return std::optional<v1::PolicySnapshot>();
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError("open " + path.string());
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return ErrnoError("read " + path.string());
  v1::PolicySnapshot snapshot;
  if (!snapshot.ParseFromString(bytes.str())) {
    return MakeError(path.string() + " is not a policy snapshot", EINVAL);
  }
  return std::optional<v1::PolicySnapshot>(std::move(snapshot));
}

}  // namespace ferry::xds
