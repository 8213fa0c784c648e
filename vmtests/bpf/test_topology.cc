#include "test_topology.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "agent/bpf/bpf_datapath.h"

namespace ferry::vmtest {
namespace {

// Runs a command line (ip(8) invocations with fixed, test-owned arguments); true on success.
bool Run(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()) == 0; }

}  // namespace

std::string FindCgroup2Mount() {
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mountinfo, line)) {
    // "<id> <parent> <maj:min> <root> <mount point> <options> [optional...] - <fstype> <source> ..."
    std::istringstream fields(line);
    std::string id, parent, dev, root, mount_point, word;
    fields >> id >> parent >> dev >> root >> mount_point;
    while (fields >> word && word != "-") {
    }
    std::string fstype;
    fields >> fstype;
    if (fstype == "cgroup2") return mount_point;
  }
  return {};
}

TestTopology::TestTopology() : prefix_("bpfhelper-" + std::to_string(getpid())) {}

TestTopology::~TestTopology() {
  pod_netns_.Reset();
  other_netns_.Reset();
  peer_netns_.Reset();
  if (created_netns_) {
    for (const char* role : {"pod", "other", "peer"}) Run("ip netns del " + Netns(role));
  }
  if (!pin_dir_.empty()) (void)ferry::agent::BpfDatapath::Uninstall(pin_dir_);
  // Every pod process has exited (ConnectAsPod reaps it), so the cgroup is empty.
  if (!cgroup_dir_.empty()) rmdir(cgroup_dir_.c_str());
}

std::string TestTopology::CreateNetworks() {
  const std::string pod = Netns("pod"), other = Netns("other"), peer = Netns("peer");
  created_netns_ = true;
  const std::vector<std::string> commands = {
      "ip netns add " + pod,
      "ip netns add " + other,
      "ip netns add " + peer,
      "ip -n " + pod + " link set lo up",
      "ip -n " + other + " link set lo up",
      "ip -n " + peer + " link set lo up",
      "ip -n " + peer + " link add to-pod type veth peer name eth0 netns " + pod,
      "ip -n " + peer + " link add to-other type veth peer name eth0 netns " + other,
      "ip -n " + peer + " addr add 198.18.1.1/24 dev to-pod",
      "ip -n " + peer + " addr add 198.18.2.1/24 dev to-other",
      "ip -n " + peer + " addr add 198.18.100.9/32 dev lo",
      "ip -n " + peer + " link set to-pod up",
      "ip -n " + peer + " link set to-other up",
      "ip -n " + pod + " addr add 198.18.1.2/24 dev eth0",
      "ip -n " + pod + " link set eth0 up",
      "ip -n " + pod + " route add default via 198.18.1.1",
      "ip -n " + pod + " addr add 2001:db8::2/128 dev lo",
      "ip -n " + other + " addr add 198.18.2.2/24 dev eth0",
      "ip -n " + other + " link set eth0 up",
      "ip -n " + other + " route add default via 198.18.2.1",
  };
  for (const std::string& command : commands) {
    if (!Run(command)) return "failed: " + command;
  }
  pod_netns_.Reset(open(("/run/netns/" + pod).c_str(), O_RDONLY | O_CLOEXEC));
  other_netns_.Reset(open(("/run/netns/" + other).c_str(), O_RDONLY | O_CLOEXEC));
  peer_netns_.Reset(open(("/run/netns/" + peer).c_str(), O_RDONLY | O_CLOEXEC));
  if (!pod_netns_ || !other_netns_ || !peer_netns_) return "cannot open the test netns under /run/netns";
  return {};
}

std::string TestTopology::Create() {
  std::string cgroup_root = FindCgroup2Mount();
  if (cgroup_root.empty()) return "no cgroup v2 mount in /proc/self/mountinfo";
  std::string dir = cgroup_root + "/" + prefix_;
  if (mkdir(dir.c_str(), 0755) != 0) return "cannot create cgroup " + dir;
  cgroup_dir_ = dir;
  pin_dir_ = std::string("/sys/fs/bpf/") + prefix_;
  return CreateNetworks();
}

}  // namespace ferry::vmtest
