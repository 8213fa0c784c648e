// Runs inside the qemu guest (run-in-vm.sh) and checks the guest is what Ferry's privileged tests
// expect: Debian's 6.1 kernel, bpffs and cgroup2 mounted, loopback up, the netns and kTLS modules
// loaded and working. It is not a host test: on the host kernel the 6.1 check fails by design.
//
// SelfTest.DISABLED_DeliberateFailure fails on purpose; the runner's failure-propagation test
// selects it with --gtest_also_run_disabled_tests --gtest_filter=*DeliberateFailure.
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "common/unique_fd.h"
#include "guest_netlink.h"
#include "ktls_probe.h"
#include "privileged.h"
#include "test_result.h"

namespace ferry::vmtest {
namespace {

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

// Mount point of the first file system of <type> in /proc/self/mountinfo, or "".
std::string MountPointOf(const std::string& type) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mountinfo, line)) {
    // "<id> <parent> <dev> <root> <mount point> <options> [optional...] - <type> <source> ..."
    std::istringstream fields(line);
    std::string id, parent, dev, root, mount_point, field;
    fields >> id >> parent >> dev >> root >> mount_point;
    while (fields >> field && field != "-") {
    }
    std::string fs_type;
    fields >> fs_type;
    if (fs_type == type) return mount_point;
  }
  return "";
}

bool IsDirectory(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

TEST(SelfTest, RunsDebian61Kernel) {
  utsname name{};
  ASSERT_EQ(uname(&name), 0);
  EXPECT_EQ(std::string(name.release).rfind("6.1.", 0), 0u) << "guest kernel is " << name.release;
}

TEST(SelfTest, RunnerMarksTheEnvironment) {
  EXPECT_EQ(Env("FERRY_IN_QEMU"), "1");
  EXPECT_EQ(Env("FERRY_REQUIRE_PRIVILEGED"), "1");
  EXPECT_EQ(geteuid(), 0u);
}

TEST(SelfTest, PrivilegedTestsWouldRun) {
  // The gate every privileged test uses must open in the guest (root, kernel BTF).
  EXPECT_EQ(MissingPrivilege(), "");
}

TEST(SelfTest, BpffsMountedAtSysFsBpf) {
  struct statfs fs {};
  ASSERT_EQ(statfs("/sys/fs/bpf", &fs), 0);
  EXPECT_EQ(static_cast<unsigned long>(fs.f_type), static_cast<unsigned long>(BPF_FS_MAGIC));
}

TEST(SelfTest, Cgroup2Mounted) {
  std::string mount_point = MountPointOf("cgroup2");
  ASSERT_NE(mount_point, "") << "no cgroup2 in /proc/self/mountinfo";
  struct statfs fs {};
  ASSERT_EQ(statfs(mount_point.c_str(), &fs), 0);
  EXPECT_EQ(static_cast<unsigned long>(fs.f_type), static_cast<unsigned long>(CGROUP2_SUPER_MAGIC));
}

TEST(SelfTest, LoopbackIsUp) {
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(fd.valid());
  ifreq request{};
  std::snprintf(request.ifr_name, sizeof(request.ifr_name), "lo");
  ASSERT_EQ(ioctl(fd.get(), SIOCGIFFLAGS, &request), 0);
  EXPECT_TRUE(request.ifr_flags & IFF_UP);
}

TEST(SelfTest, NetnsAndKtlsModulesLoaded) {
  for (const char* module : {"veth", "bridge", "tls", "gcm", "ghash_generic", "ctr", "seqiv"}) {
    EXPECT_TRUE(IsDirectory(std::string("/sys/module/") + module)) << module << " not loaded";
  }
}

// Runs <check> in a child process inside a fresh network namespace: the guest's root namespace
// stays untouched and the namespace disappears with the child. Like `ip netns exec`, the child
// also gets its own mount namespace with a fresh sysfs, since /sys shows the links of the netns
// that mounted it.
template <typename Check>
int RunInFreshNetns(Check check) {
  pid_t child = fork();
  if (child == 0) {
    if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) _exit(100);
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(101);
    if (mount("sysfs", "/sys", "sysfs", 0, nullptr) != 0) _exit(102);
    _exit(check());
  }
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST(SelfTest, VethPairAndBridgeInFreshNetns) {
  int result = RunInFreshNetns([] {
    if (!CreateVethPair("qemuhelper-a", "qemuhelper-b").ok()) return 1;
    if (if_nametoindex("qemuhelper-a") == 0 || if_nametoindex("qemuhelper-b") == 0) return 2;
    if (!CreateBridge("qemuhelper-br").ok()) return 3;
    if (!AttachToBridge("qemuhelper-a", "qemuhelper-br").ok()) return 4;
    return IsDirectory("/sys/class/net/qemuhelper-br/brif/qemuhelper-a") ? 0 : 5;
  });
  // 1: veth create, 2: links missing, 3: bridge create, 4: enslave, 5: not a port, 10x: setup
  EXPECT_EQ(result, 0);
}

TEST(SelfTest, KtlsTransmitEncryptsWhatTheAppWrites) {
  const std::string message = "ferry kTLS selftest: bytes must survive the kernel's encryption";
  auto recovered = SendThroughKtlsAndDecrypt(message);
  ASSERT_OK(recovered);
  EXPECT_EQ(*recovered, message);
}

// `ip netns add` keeps its namespaces under /var/run/netns, and /run is the guest's tmpfs.
TEST(SelfTest, VarRunIsRun) {
  struct stat var_run {}, run {};
  ASSERT_EQ(stat("/var/run", &var_run), 0);
  ASSERT_EQ(stat("/run", &run), 0);
  EXPECT_TRUE(var_run.st_dev == run.st_dev && var_run.st_ino == run.st_ino);
}

// Tests shell out (system("ip netns add ...")) and must get the program PATH names, as on the
// host: busybox ash would run its own applet for any applet name (`ip`, `hostname`) instead.
TEST(SelfTest, ShellResolvesCommandsThroughPath) {
  const std::string dir = "/tmp/qemuhelper-path";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  std::ofstream(dir + "/hostname") << "#!/bin/sh\necho from-path\n";
  ASSERT_EQ(chmod((dir + "/hostname").c_str(), 0755), 0);
  FILE* out = popen(("PATH=" + dir + ":$PATH hostname").c_str(), "r");
  ASSERT_NE(out, nullptr);
  char line[64] = {};
  bool read = fgets(line, sizeof(line), out) != nullptr;
  pclose(out);
  std::remove((dir + "/hostname").c_str());
  rmdir(dir.c_str());
  ASSERT_TRUE(read);
  EXPECT_EQ(std::string(line), "from-path\n") << "/bin/sh ran a builtin applet instead of the PATH's program";
}

TEST(SelfTest, DISABLED_DeliberateFailure) { FAIL() << "deliberate failure to test exit status propagation"; }

}  // namespace
}  // namespace ferry::vmtest
