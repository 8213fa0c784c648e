#include "cli/state_lock.h"

#include <fcntl.h>
#include <sys/file.h>

#include <filesystem>
#include <fstream>

namespace ferry::cli {

namespace fs = std::filesystem;

Result<StateLock> StateLock::Acquire(const std::string& state_dir) {
  std::error_code ec;
  fs::create_directories(state_dir, ec);
  if (ec) return MakeError("create " + state_dir + ": " + ec.message());
  std::string path = state_dir + "/lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return ErrnoError("open " + path);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return ErrnoError("flock " + path);
    // Another ferryctl is working on this cluster; wait for it rather than interleave.
    if (::flock(fd.get(), LOCK_EX) != 0) return ErrnoError("flock " + path);
  }
  return StateLock(std::move(fd));
}

std::string RecordedStateDir() {
  std::ifstream in(kMachineRecord);
  std::string dir;
  std::getline(in, dir);
  return dir;
}

Result<void> RecordStateDir(const std::string& state_dir) {
  std::error_code ec;
  fs::create_directories(fs::path(kMachineRecord).parent_path(), ec);
  std::ofstream out(kMachineRecord, std::ios::trunc);
  out << state_dir << "\n";
  if (!out.flush()) return MakeError(std::string("write ") + kMachineRecord);
  return Ok();
}

void ClearRecordedStateDir(const std::string& state_dir) {
  if (RecordedStateDir() != state_dir) return;
  std::error_code ec;
  fs::remove(kMachineRecord, ec);
  fs::remove(fs::path(kMachineRecord).parent_path(), ec);  // only when empty
}

}  // namespace ferry::cli
