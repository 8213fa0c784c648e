#include "agent/xds/snapshot_file.h"

#include <fstream>
#include <sstream>

#include "common/atomic_file.h"

namespace ferry::xds {

Result<void> PersistSnapshot(const std::filesystem::path& path, const v1::PolicySnapshot& snapshot) {
  std::string bytes;
  if (!snapshot.SerializeToString(&bytes)) return MakeError("serialize policy snapshot", EINVAL);
  return WriteFileAtomically(path, bytes, 0600);
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
