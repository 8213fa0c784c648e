// The agent's own resource use, read from procfs at scrape time.
#pragma once

#include <cstdint>
#include <filesystem>

#include "common/result.h"

namespace ferry::metrics {

struct ProcessStats {
  uint64_t resident_bytes = 0;
  double cpu_seconds = 0;  // user + system
  uint64_t open_fds = 0;
};

// `proc_dir` is a process's procfs directory ("/proc/self"); tests pass a fake tree.
Result<ProcessStats> ReadProcessStats(const std::filesystem::path& proc_dir = "/proc/self");

}  // namespace ferry::metrics
