// Starting processes where a local cluster needs them: inside a network namespace, in a cgroup,
// with their output in a file. The cgroup is joined before exec, so every socket the program
// creates is subject to the cgroup's BPF hooks from its first syscall.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace ferry::local {

struct SpawnOptions {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // added to (and overriding) the caller's environment
  std::string netns_path;                  // empty = the caller's
  std::string cgroup;                      // empty = the caller's
  std::string stdout_path;                 // empty = inherit
  std::string stderr_path;                 // empty = same as stdout
  std::string stdin_data;                  // written to the child's stdin, then closed (if non-empty)
  // Bind-mounted over /etc/hosts in a private mount namespace of the child (as `ip netns exec`
  // does with /etc/netns/<name>/hosts), so names resolve per pod. Empty = the host's.
  std::string hosts_file;
  // setsid(): the child leads its own session, outlives the caller and gets no terminal signals.
  bool detach = false;
  std::string working_dir;  // empty = the caller's
};

Result<pid_t> Spawn(const SpawnOptions& options);

struct CommandResult {
  int exit_code = -1;  // 128 + signal when killed by a signal
  std::string output;  // stdout
  std::string errors;  // stderr
};

// Runs to completion (or until timeout, then SIGKILL) and captures stdout/stderr.
Result<CommandResult> RunCommand(const SpawnOptions& options,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A process we started but may not be the parent of any more (it outlives ferryctl): the PID plus
// its start time (/proc/<pid>/stat field 22), so a recycled PID is never mistaken for it.
struct ProcessId {
  pid_t pid = -1;
  uint64_t start_time = 0;
};

Result<ProcessId> IdentifyProcess(pid_t pid);
bool IsAlive(const ProcessId& process);  // running (not a zombie) and still the same process
// SIGTERM, then SIGKILL after grace; works for processes that are not our children (polls).
void StopDetached(const ProcessId& process, std::chrono::milliseconds grace = std::chrono::seconds(3));

// waitpid with a deadline; nullopt when still running at the deadline.
std::optional<int> WaitExit(pid_t pid, std::chrono::milliseconds timeout);
// SIGTERM, then SIGKILL after grace; reaps it. Only for processes we started.
void StopProcess(pid_t pid, std::chrono::milliseconds grace = std::chrono::seconds(3));

}  // namespace ferry::local
