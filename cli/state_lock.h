// Serialises ferryctl invocations on one state directory, and remembers machine-wide which state
// directory holds the running local cluster (one per machine).
#pragma once

#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace ferry::cli {

// flock(2) on <state>/lock, held for the lifetime of the object.
class StateLock {
 public:
  static Result<StateLock> Acquire(const std::string& state_dir);
  StateLock(StateLock&&) = default;
  StateLock& operator=(StateLock&&) = default;

 private:
  explicit StateLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// /run/ferry/local-cluster holds the state directory of the cluster `up` created.
constexpr const char* kMachineRecord = "/run/ferry/local-cluster";
std::string RecordedStateDir();  // "" when none
Result<void> RecordStateDir(const std::string& state_dir);
void ClearRecordedStateDir(const std::string& state_dir);  // only when it names state_dir

}  // namespace ferry::cli
