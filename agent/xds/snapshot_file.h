// The agent's copy of the last policy it ACKed, so a restarted agent enforces it while the
// controller is unreachable (fail closed on the last known policy, not open, not empty).
#pragma once

#include <filesystem>
#include <optional>

#include "common/result.h"
#include "ferry/v1/policy.pb.h"

namespace ferry::xds {

// Serialized protobuf, written to `path.tmp`, fsynced and renamed over `path`: a crash leaves
// the old or the new snapshot, never a torn one.
Result<void> PersistSnapshot(const std::filesystem::path& path, const v1::PolicySnapshot& snapshot);

// nullopt when no snapshot was ever persisted; an error when the file exists but is unreadable
// or not a snapshot.
Result<std::optional<v1::PolicySnapshot>> LoadSnapshotFile(const std::filesystem::path& path);

}  // namespace ferry::xds
