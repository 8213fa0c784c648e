// BpfDatapath on libbpf: loads the objects (bpf_objects.cc), attaches them through pinned links
// (pinned_links.cc) and gives typed access to the shared pinned maps.
#include "agent/bpf/bpf_datapath.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <atomic>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "agent/bpf/bpf_objects.h"
#include "agent/bpf/bpffs.h"
#include "agent/bpf/pinned_links.h"
#include "common/unique_fd.h"

namespace ferry::agent {
namespace {

constexpr const char* kSkLookupPinPrefix = "sk_lookup_";

std::string LinksDir(const std::string& pin_dir) { return pin_dir + "/links"; }

// The shared maps, as fds owned by the loaded objects (which live as long as the datapath).
struct MapFds {
  int enrolled = -1;
  int orig_dst = -1;
  int inbound = -1;
  int counters = -1;
};

Result<MapFds> FindMaps(const LoadedBpfObject& object) {
  MapFds fds{object.MapFd("ferry_enrolled_v1"), object.MapFd("ferry_orig_dst_v1"),
             object.MapFd("ferry_inbound_v1"), object.MapFd("ferry_counters_v1")};
  if (fds.enrolled < 0 || fds.orig_dst < 0 || fds.inbound < 0 || fds.counters < 0) {
    return MakeError("BPF object " + object.hook() + " lacks one of the shared maps", ENOENT);
  }
  return fds;
}

Result<LinkTarget> OpenPodCgroup(const std::string& path, UniqueFd& fd) {
  fd.Reset(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return ErrnoError("open pod cgroup " + path);
  struct statfs fs {};
  if (fstatfs(fd.get(), &fs) != 0) return ErrnoError("statfs pod cgroup " + path);
  if (static_cast<unsigned long>(fs.f_type) != CGROUP2_SUPER_MAGIC) {
    return MakeError("pod cgroup " + path + " is not on cgroup v2", ENOTSUP);
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return ErrnoError("stat pod cgroup " + path);
  // On cgroup v2 a cgroup's id (what bpf_link_info reports) is its directory's inode number.
  return LinkTarget{BPF_LINK_TYPE_CGROUP, fd.get(), st.st_ino, "cgroup " + path};
}

Result<void> ValidatePodKey(const std::string& key) {
  if (key.empty() || key == "." || key == ".." || key.size() > 200 || key.find('/') != std::string::npos) {
    return MakeError("pod key '" + key + "' is not a usable file name", EINVAL);
  }
  return Ok();
}

Result<void> DeleteKey(int map_fd, const void* key, const std::string& what) {
  if (bpf_map_delete_elem(map_fd, key) != 0 && errno != ENOENT) return ErrnoError(what);
  return Ok();
}

class LibbpfDatapath final : public BpfDatapath {
 public:
  LibbpfDatapath(BpfDatapathOptions options, std::vector<LoadedBpfObject> objects, MapFds maps)
      : options_(std::move(options)), objects_(std::move(objects)), maps_(maps) {}

  Result<void> EnrollPod(const PodAttachment& pod) override;
  Result<void> UnenrollPod(const std::string& pod_key, uint64_t netns_cookie, uint32_t pod_ip) override;
  Result<std::optional<Ipv4Endpoint>> TakeOriginalDestination(uint64_t netns_cookie,
                                                               Ipv4Endpoint client) override;
  std::array<uint64_t, FERRY_CTR_MAX> Counters() override;

  // Swaps this generation's sk_lookup program into every pod link a previous agent pinned.
  Result<void> RefreshSkLookupLinks();

 private:
  const LoadedBpfObject& Object(BpfHook hook) const { return objects_[static_cast<size_t>(hook)]; }
  std::string SkLookupPinPath(const std::string& pod_key) const {
    return LinksDir(options_.pin_dir) + "/" + kSkLookupPinPrefix + pod_key;
  }
  Result<void> AttachPod(const PodAttachment& pod);

  BpfDatapathOptions options_;
  std::vector<LoadedBpfObject> objects_;  // indexed by BpfHook
  MapFds maps_;
  std::atomic<uint64_t> orig_dst_missing_{0};
};

Result<void> LibbpfDatapath::AttachPod(const PodAttachment& pod) {
  // SOCKHASH first, link second: an attached sk_lookup with no listener registered drops inbound.
  uint32_t ip_key = htonl(pod.pod_ip);
  uint64_t listener = static_cast<uint64_t>(pod.inbound_listener_fd);
  if (bpf_map_update_elem(maps_.inbound, &ip_key, &listener, BPF_ANY) != 0) {
    return ErrnoError("register inbound listener of pod " + pod.pod_key + " (must be a listening TCP socket)");
  }
  struct stat netns {};
  if (fstat(pod.netns_fd, &netns) != 0) return ErrnoError("stat netns of pod " + pod.pod_key);
  LinkTarget target{BPF_LINK_TYPE_NETNS, pod.netns_fd, netns.st_ino, "netns of pod " + pod.pod_key};
  FERRY_TRY(InstallPinnedLink(Object(BpfHook::kSkLookup), target, SkLookupPinPath(pod.pod_key)));
  // Enrolled last: from here on the pod's outbound connects are redirected to its 15001 listener.
  ferry_pod value{htonl(pod.pod_ip), FERRY_POD_ENROLLED};
  if (bpf_map_update_elem(maps_.enrolled, &pod.netns_cookie, &value, BPF_ANY) != 0) {
    return ErrnoError("enroll netns of pod " + pod.pod_key);
  }
  return Ok();
}

Result<void> LibbpfDatapath::EnrollPod(const PodAttachment& pod) {
  FERRY_TRY(ValidatePodKey(pod.pod_key));
  if (pod.netns_fd < 0 || pod.inbound_listener_fd < 0 || pod.pod_ip == 0 || pod.netns_cookie == 0) {
    return MakeError("enroll pod " + pod.pod_key + ": incomplete attachment", EINVAL);
  }
  auto attached = AttachPod(pod);
  if (!attached.ok()) {
    // Leave no half-enrolled pod behind: the caller fails the pod's start instead.
    auto undone = UnenrollPod(pod.pod_key, pod.netns_cookie, pod.pod_ip);
    if (!undone.ok()) spdlog::warn("rolling back enrollment of {}: {}", pod.pod_key, undone.error().Message());
    return attached.error();
  }
  return Ok();
}

Result<void> LibbpfDatapath::UnenrollPod(const std::string& pod_key, uint64_t netns_cookie, uint32_t pod_ip) {
  FERRY_TRY(ValidatePodKey(pod_key));
  FERRY_TRY(DeleteKey(maps_.enrolled, &netns_cookie, "unenroll netns of pod " + pod_key));
  FERRY_TRY(RemovePinnedLink(SkLookupPinPath(pod_key)));
  uint32_t ip_key = htonl(pod_ip);
  return DeleteKey(maps_.inbound, &ip_key, "unregister inbound listener of pod " + pod_key);
}

Result<std::optional<Ipv4Endpoint>> LibbpfDatapath::TakeOriginalDestination(uint64_t netns_cookie,
                                                                             Ipv4Endpoint client) {
  ferry_orig_dst_key key{};
  key.netns_cookie = netns_cookie;
  key.client_ip = htonl(client.addr);
  key.client_port = htons(client.port);
  ferry_orig_dst value{};
  // One syscall (hash maps: 5.14): two acceptors can never both take the same record.
  if (bpf_map_lookup_and_delete_elem(maps_.orig_dst, &key, &value) != 0) {
    if (errno != ENOENT) return ErrnoError("take original destination of " + client.ToString());
    orig_dst_missing_.fetch_add(1, std::memory_order_relaxed);
    return std::optional<Ipv4Endpoint>();
  }
  return std::optional<Ipv4Endpoint>(Ipv4Endpoint{ntohl(value.ip), ntohs(value.port)});
}

std::array<uint64_t, FERRY_CTR_MAX> LibbpfDatapath::Counters() {
  std::array<uint64_t, FERRY_CTR_MAX> totals{};
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return totals;
  std::vector<uint64_t> per_cpu(static_cast<size_t>(cpus));
  for (uint32_t i = 0; i < FERRY_CTR_MAX; ++i) {
    if (bpf_map_lookup_elem(maps_.counters, &i, per_cpu.data()) != 0) continue;
    for (uint64_t v : per_cpu) totals[i] += v;
  }
  // Counted here, not in BPF: only the agent knows an accept() found no record.
  totals[FERRY_CTR_ORIG_DST_MISSING] += orig_dst_missing_.load(std::memory_order_relaxed);
  return totals;
}

Result<void> LibbpfDatapath::RefreshSkLookupLinks() {
  const std::string dir = LinksDir(options_.pin_dir);
  std::unique_ptr<DIR, int (*)(DIR*)> listing(opendir(dir.c_str()), closedir);
  if (!listing) return ErrnoError("list pinned links in " + dir);
  std::vector<std::string> pins;
  while (dirent* entry = readdir(listing.get())) {
    std::string name = entry->d_name;
    if (name.starts_with(kSkLookupPinPrefix)) pins.push_back(dir + "/" + name);
  }
  for (const std::string& pin : pins) {
    auto kept = RefreshPinnedLink(Object(BpfHook::kSkLookup), pin);
    if (!kept.ok()) return kept.error();
    if (!*kept) spdlog::info("removed pinned sk_lookup link {}: its pod netns is gone", pin);
  }
  return Ok();
}

}  // namespace

Result<std::unique_ptr<BpfDatapath>> BpfDatapath::Open(const BpfDatapathOptions& options) {
  if (options.pin_dir.empty() || options.pin_dir.front() != '/') {
    return MakeError("BPF pin directory must be an absolute path, got '" + options.pin_dir + "'", EINVAL);
  }
  InstallLibbpfLogging();
  FERRY_TRY(EnsureBpffsMounted(kDefaultBpffsMount));
  FERRY_TRY(CreatePinDirectory(LinksDir(options.pin_dir)));
  UniqueFd cgroup_fd;
  auto cgroup = OpenPodCgroup(options.pod_cgroup, cgroup_fd);
  if (!cgroup.ok()) return cgroup.error();

  auto objects = LoadDatapathObjects(options.pin_dir);
  if (!objects.ok()) return objects.error();
  auto maps = FindMaps(objects->front());
  if (!maps.ok()) return maps.error();
  for (BpfHook hook : kCgroupHooks) {
    const LoadedBpfObject& object = (*objects)[static_cast<size_t>(hook)];
    FERRY_TRY(InstallPinnedLink(object, *cgroup, LinksDir(options.pin_dir) + "/" + BpfHookName(hook)));
  }
  auto datapath = std::make_unique<LibbpfDatapath>(options, std::move(objects).value(), *maps);
  FERRY_TRY(datapath->RefreshSkLookupLinks());
  return std::unique_ptr<BpfDatapath>(std::move(datapath));
}

Result<void> BpfDatapath::Uninstall(const std::string& pin_dir) {
  if (pin_dir.empty() || pin_dir.front() != '/') {
    return MakeError("BPF pin directory must be an absolute path, got '" + pin_dir + "'", EINVAL);
  }
  // Detach every link explicitly first: dropping a pin only releases a reference, and the kernel
  // frees (and so detaches) an unpinned link asynchronously, so capture could outlive Uninstall().
  const std::string links = LinksDir(pin_dir);
  if (std::unique_ptr<DIR, int (*)(DIR*)> listing(opendir(links.c_str()), closedir); listing) {
    std::vector<std::string> pins;
    while (dirent* entry = readdir(listing.get())) {
      if (entry->d_type == DT_REG) pins.push_back(links + "/" + entry->d_name);
    }
    for (const std::string& pin : pins) FERRY_TRY(RemovePinnedLink(pin));
  }
  return RemovePinTree(pin_dir);
}

Result<void> BpfDatapath::ProbeKernelSupport() {
  InstallLibbpfLogging();
  auto objects = LoadDatapathObjects("");
  if (!objects.ok()) return objects.error();
  return Ok();
}

}  // namespace ferry::agent
