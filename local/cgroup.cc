#include "local/cgroup.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace ferry::local {

namespace fs = std::filesystem;

Result<std::string> FindCgroup2Root() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // "<id> <parent> <maj:min> <root> <mount point> <opts> [optional...] - <fstype> <source> <superopts>"
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, devno, root, mount_point;
    head >> id >> parent >> devno >> root >> mount_point;
    return mount_point;
  }
  return MakeError("no cgroup2 filesystem mounted (see /proc/self/mountinfo)");
}

Result<void> MakeCgroup(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return MakeError("mkdir " + path + ": " + ec.message());
  return Ok();
}

Result<void> MoveToCgroup(const std::string& path, pid_t pid) {
  std::ofstream out(path + "/cgroup.procs");
  out << pid << std::flush;
  if (!out) return MakeError("move pid " + std::to_string(pid) + " into " + path);
  return Ok();
}

std::vector<pid_t> CgroupPids(const std::string& path) {
  std::vector<pid_t> pids;
  std::ifstream in(path + "/cgroup.procs");
  pid_t pid;
  while (in >> pid) pids.push_back(pid);
  return pids;
}

namespace {

void KillSubtree(const std::string& path) {
  std::ofstream kill_file(path + "/cgroup.kill");
  if (kill_file) {
    kill_file << "1" << std::flush;
    if (kill_file) return;
  }
  // Kernels before 5.14: signal each member ourselves.
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(path, ec)) {
    if (entry.is_directory()) {
      for (pid_t pid : CgroupPids(entry.path())) ::kill(pid, SIGKILL);
    }
  }
  for (pid_t pid : CgroupPids(path)) ::kill(pid, SIGKILL);
}

bool SubtreeEmpty(const std::string& path) {
  std::error_code ec;
  if (!CgroupPids(path).empty()) return false;
  for (const auto& entry : fs::recursive_directory_iterator(path, ec)) {
    if (entry.is_directory() && !CgroupPids(entry.path()).empty()) return false;
  }
  return true;
}

}  // namespace

Result<void> RemoveCgroupTree(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return Ok();
  KillSubtree(path);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!SubtreeEmpty(path) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // cgroup directories are removed with rmdir, children first.
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::recursive_directory_iterator(path, ec))
    if (entry.is_directory()) dirs.push_back(entry.path());
  std::sort(dirs.begin(), dirs.end(), [](const fs::path& a, const fs::path& b) {
    return a.string().size() > b.string().size();
  });
  dirs.push_back(path);
  std::string failed;
  for (const auto& d : dirs) {
    // A cgroup stays busy (EBUSY) for a moment after its last task exited while the kernel
    // releases it: retry until the same deadline.
    int rc;
    while ((rc = ::rmdir(d.c_str())) != 0 && errno == EBUSY && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (rc != 0 && errno != ENOENT) failed += " " + d.string() + " (" + std::strerror(errno) + ")";
  }
  if (!failed.empty()) return MakeError("could not remove cgroups:" + failed);
  return Ok();
}

}  // namespace ferry::local
