#include "local/process.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/unique_fd.h"

extern char** environ;

namespace ferry::local {

namespace {

struct PreparedExec {
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::string cgroup_procs;
  std::string program;  // argv[0] resolved against PATH
};

PreparedExec Prepare(const SpawnOptions& o) {
  PreparedExec p;
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : o.env) env[k] = v;
  for (const auto& [k, v] : env) p.env_storage.push_back(k + "=" + v);
  for (auto& s : p.env_storage) p.envp.push_back(s.data());
  p.envp.push_back(nullptr);
  for (const auto& a : o.argv) p.argv.push_back(const_cast<char*>(a.c_str()));
  p.argv.push_back(nullptr);
  if (!o.cgroup.empty()) p.cgroup_procs = o.cgroup + "/cgroup.procs";
  return p;
}

[[noreturn]] void fail(const char* what) {
  (void)!::write(2, what, strlen(what));
  (void)!::write(2, "\n", 1);
  ::_exit(127);
}

// Runs in the forked child: only async-signal-safe calls until exec. Reports a setup failure as
// exit status 127 with a message on stderr.
[[noreturn]] void ExecChild(const SpawnOptions& o, PreparedExec& p, int netns_fd, int stdin_fd,
                            int stdout_fd, int stderr_fd) {
  if (o.detach) {
    ::setsid();
  } else {
    ::setpgid(0, 0);
  }
  if (!p.cgroup_procs.empty()) {
    int fd = ::open(p.cgroup_procs.c_str(), O_WRONLY);
    if (fd < 0 || ::write(fd, "0", 1) != 1) fail("ferry: cannot join the cgroup");
    ::close(fd);
  }
  if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) fail("ferry: cannot enter the netns");
  if (!o.hosts_file.empty()) {
    // A private mount namespace whose changes do not propagate back to the host's.
    if (::unshare(CLONE_NEWNS) != 0) fail("ferry: cannot create a mount namespace");
    if (::mount("none", "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) fail("ferry: cannot make / a slave mount");
    if (::mount(o.hosts_file.c_str(), "/etc/hosts", nullptr, MS_BIND, nullptr) != 0)
      fail("ferry: cannot bind-mount the pod's hosts file over /etc/hosts");
  }
  if (!o.working_dir.empty() && ::chdir(o.working_dir.c_str()) != 0) fail("ferry: cannot chdir");
  if (stdin_fd >= 0) ::dup2(stdin_fd, 0);
  if (stdout_fd >= 0) ::dup2(stdout_fd, 1);
  if (stderr_fd >= 0) ::dup2(stderr_fd, 2);
  ::execve(p.program.c_str(), p.argv.data(), p.envp.data());
  fail("ferry: exec failed");
}

}  // namespace

namespace {

// execve does not search PATH; resolve a bare program name here, before fork.
Result<std::string> ResolveProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = ::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = (end > start ? dirs.substr(start, end - start) : ".") + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return MakeError(name + ": command not found in PATH", ENOENT);
}

}  // namespace

Result<pid_t> Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return MakeError("spawn: empty argv");
  const SpawnOptions& o = options;
  auto program = ResolveProgram(o.argv[0]);
  if (!program.ok()) return program.error();
  PreparedExec prepared = Prepare(o);
  prepared.program = *program;
  UniqueFd netns;
  if (!o.netns_path.empty()) {
    netns.Reset(::open(o.netns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!netns) return ErrnoError("open " + o.netns_path);
  }
  UniqueFd out;
  if (!o.stdout_path.empty()) {
    out.Reset(::open(o.stdout_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!out) return ErrnoError("open " + o.stdout_path);
  }
  UniqueFd err;
  if (!o.stderr_path.empty()) {
    err.Reset(::open(o.stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!err) return ErrnoError("open " + o.stderr_path);
  }
  int in_pipe[2] = {-1, -1};
  if (!o.stdin_data.empty() && ::pipe2(in_pipe, O_CLOEXEC) != 0) return ErrnoError("pipe");
  UniqueFd null_in;  // a detached process must not read the caller's terminal
  if (o.detach && o.stdin_data.empty()) null_in.Reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null_in) in_pipe[0] = null_in.get();
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoError("fork");
  if (pid == 0) ExecChild(o, prepared, netns.get(), in_pipe[0], out.get(), err ? err.get() : out.get());
  if (in_pipe[1] >= 0) {
    ::close(in_pipe[0]);
    // Small payloads (CNI configs) fit the pipe buffer; larger ones would need a writer thread.
    (void)!::write(in_pipe[1], o.stdin_data.data(), o.stdin_data.size());
    ::close(in_pipe[1]);
  }
  return pid;
}

std::optional<int> WaitExit(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

namespace {

// Field 3 (state) and field 22 (start time in clock ticks) of /proc/<pid>/stat.
bool ReadStat(pid_t pid, char* state, uint64_t* start_time) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  auto close = line.rfind(')');  // the command name may contain spaces and parentheses
  if (close == std::string::npos) return false;
  std::istringstream fields(line.substr(close + 1));
  std::string field;
  for (int index = 3; fields >> field; ++index) {
    if (index == 3) *state = field.empty() ? '?' : field[0];
    if (index == 22) {
      *start_time = std::strtoull(field.c_str(), nullptr, 10);
      return true;
    }
  }
  return false;
}

}  // namespace

Result<ProcessId> IdentifyProcess(pid_t pid) {
  char state = 0;
  uint64_t start = 0;
  if (!ReadStat(pid, &state, &start)) return MakeError("no process " + std::to_string(pid), ESRCH);
  return ProcessId{pid, start};
}

bool IsAlive(const ProcessId& process) {
  if (process.pid <= 0) return false;
  char state = 0;
  uint64_t start = 0;
  if (!ReadStat(process.pid, &state, &start)) return false;
  return state != 'Z' && state != 'X' && start == process.start_time;
}

void StopDetached(const ProcessId& process, std::chrono::milliseconds grace) {
  auto wait_gone = [&](std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (IsAlive(process)) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::waitpid(process.pid, nullptr, WNOHANG);  // reap it if it happens to be our child
    return true;
  };
  if (!IsAlive(process)) return;
  ::kill(process.pid, SIGTERM);
  if (wait_gone(grace)) return;
  ::kill(process.pid, SIGKILL);
  wait_gone(std::chrono::seconds(5));
}

void StopProcess(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  if (WaitExit(pid, grace)) return;
  ::kill(pid, SIGKILL);
  WaitExit(pid, std::chrono::seconds(5));
}

Result<CommandResult> RunCommand(const SpawnOptions& options, std::chrono::milliseconds timeout) {
  char out_tmpl[] = "/tmp/ferry-cmd-out-XXXXXX";
  char err_tmpl[] = "/tmp/ferry-cmd-err-XXXXXX";
  UniqueFd out_fd(::mkstemp(out_tmpl));
  UniqueFd err_fd(::mkstemp(err_tmpl));
  if (!out_fd || !err_fd) return ErrnoError("mkstemp");
  ::unlink(out_tmpl);
  ::unlink(err_tmpl);
  SpawnOptions o = options;
  o.stdout_path = "/proc/self/fd/" + std::to_string(out_fd.get());
  o.stderr_path = "/proc/self/fd/" + std::to_string(err_fd.get());
  auto pid = Spawn(o);
  if (!pid.ok()) return pid.error();
  auto code = WaitExit(*pid, timeout);
  if (!code) {
    ::kill(*pid, SIGKILL);
    WaitExit(*pid, std::chrono::seconds(5));
    return MakeError(options.argv[0] + " did not finish within " + std::to_string(timeout.count()) + " ms", ETIMEDOUT);
  }
  auto slurp = [](int fd) {
    std::string s;
    char buf[8192];
    ::lseek(fd, 0, SEEK_SET);
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) s.append(buf, static_cast<size_t>(n));
    return s;
  };
  CommandResult result;
  result.exit_code = *code;
  result.output = slurp(out_fd.get());
  result.errors = slurp(err_fd.get());
  return result;
}

}  // namespace ferry::local
