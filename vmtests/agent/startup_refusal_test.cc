// The agent refuses to start, with a reason, when a kernel facility it needs is unavailable —
// and then leaves nothing behind that could capture traffic it cannot serve. Unavailability is
// produced for real by running the agent under a seccomp filter that fails one syscall.
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "local/cgroup.h"
#include "privileged.h"

namespace ferry::vmtest {
namespace {

namespace fs = std::filesystem;

struct AgentRun {
  int exit_code = -1;
  std::string log;
};

// Runs ferry-agent with `blocked_syscall` failing with `err`.
AgentRun RunAgentWithout(long blocked_syscall, int err, const std::string& cgroup, const std::string& dir) {
  std::string log_path = dir + "/agent.log";
  pid_t pid = fork();
  if (pid == 0) {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(blocked_syscall), 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (static_cast<uint32_t>(err) & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])), filter};
    FILE* out = freopen(log_path.c_str(), "w", stdout);
    dup2(fileno(out), 2);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) _exit(99);
    execl(FERRY_AGENT_BIN, FERRY_AGENT_BIN, "--node", "refusal", "--pod-cgroup", cgroup.c_str(), "--pin-dir",
          (dir + "/bpf").c_str(), "--state-dir", (dir + "/state").c_str(), "--enroll-socket",
          (dir + "/agent.sock").c_str(), nullptr);
    _exit(98);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  AgentRun run;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(log_path);
  std::stringstream ss;
  ss << in.rdbuf();
  run.log = ss.str();
  return run;
}

class StartupRefusalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FERRY_REQUIRE_PRIVILEGED();
    auto root = local::FindCgroup2Root();
    ASSERT_TRUE(root.ok()) << root.error().Message();
    cgroup_ = *root + "/ferry-refusal-" + std::to_string(getpid());
    ASSERT_TRUE(local::MakeCgroup(cgroup_).ok());
    // The pin directory lives on bpffs so that a partial start would be visible there.
    dir_ = "/tmp/ferry-refusal-" + std::to_string(getpid());
    fs::create_directories(dir_);
    pin_dir_ = "/sys/fs/bpf/ferry-refusal-" + std::to_string(getpid());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(pin_dir_, ec);
    fs::remove_all(dir_, ec);
    if (!cgroup_.empty()) (void)local::RemoveCgroupTree(cgroup_);
  }
  AgentRun Run(long syscall_nr, int err) {
    std::error_code ec;
    fs::create_directory_symlink(pin_dir_, dir_ + "/bpf", ec);
    return RunAgentWithout(syscall_nr, err, cgroup_, dir_);
  }
  std::string cgroup_, dir_, pin_dir_;
};

TEST_F(StartupRefusalTest, WithoutIoUringRefusesBeforeCapturingAnything) {
  auto run = Run(__NR_io_uring_setup, ENOSYS);
  EXPECT_EQ(run.exit_code, 1) << run.log;
  EXPECT_NE(run.log.find("cannot start: io_uring proxy unavailable"), std::string::npos) << run.log;
  EXPECT_FALSE(fs::exists(pin_dir_)) << "BPF state was created by an agent that cannot proxy";
}

TEST_F(StartupRefusalTest, WithoutBpfRefusesWithTheReason) {
  auto run = Run(__NR_bpf, EPERM);
  EXPECT_EQ(run.exit_code, 1) << run.log;
  EXPECT_NE(run.log.find("cannot start: BPF datapath unavailable"), std::string::npos) << run.log;
}

}  // namespace
}  // namespace ferry::vmtest
