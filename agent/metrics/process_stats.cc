#include "agent/metrics/process_stats.h"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace ferry::metrics {

namespace {

Result<std::string> ReadSmallFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return MakeError("cannot read " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// utime and stime are fields 14 and 15 of /proc/<pid>/stat, counted after the ")" that ends
// the command name (which may itself contain spaces and parentheses).
Result<double> CpuSeconds(const std::string& stat) {
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return MakeError("malformed stat");
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  uint64_t times[2] = {0, 0};  // utime, stime
  for (int i = 3; i <= 15; ++i) {
    if (!(fields >> field)) return MakeError("stat has fewer than 15 fields");
    if (i < 14) continue;
    auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), times[i - 14]);
    if (ec != std::errc{} || end != field.data() + field.size())
      return MakeError("stat field " + std::to_string(i) + " is not a number");
  }
  uint64_t utime = times[0], stime = times[1];
  long ticks = ::sysconf(_SC_CLK_TCK);
  return static_cast<double>(utime + stime) / static_cast<double>(ticks > 0 ? ticks : 100);
}

// The second field of statm is resident pages.
Result<uint64_t> ResidentBytes(const std::string& statm) {
  std::istringstream fields(statm);
  uint64_t size = 0, resident = 0;
  if (!(fields >> size >> resident)) return MakeError("malformed statm");
  long page = ::sysconf(_SC_PAGESIZE);
  return resident * static_cast<uint64_t>(page > 0 ? page : 4096);
}

}  // namespace

Result<ProcessStats> ReadProcessStats(const std::filesystem::path& proc_dir) {
  ProcessStats stats;
  auto stat = ReadSmallFile(proc_dir / "stat");
  if (!stat.ok()) return stat.error();
  auto cpu = CpuSeconds(*stat);
  if (!cpu.ok()) return MakeError((proc_dir / "stat").string() + ": " + cpu.error().Message());
  stats.cpu_seconds = *cpu;
  auto statm = ReadSmallFile(proc_dir / "statm");
  if (!statm.ok()) return statm.error();
  auto resident = ResidentBytes(*statm);
  if (!resident.ok()) return resident.error();
  stats.resident_bytes = *resident;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(proc_dir / "fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++stats.open_fds;
  if (ec) return MakeError("cannot list " + (proc_dir / "fd").string() + ": " + ec.message());
  return stats;
}

}  // namespace ferry::metrics
