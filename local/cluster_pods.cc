// LocalCluster: pods (network namespace + CNI + cgroup + hosts file) and running programs in them.
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "agent/enroll/enroll_protocol.h"
#include "local/cgroup.h"
#include "local/cluster.h"
#include "local/ip_command.h"

namespace ferry::local {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string CniArgs(const PodOptions& o) {
  return "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + o.namespace_name + ";K8S_POD_NAME=" + o.name +
         ";K8S_POD_SERVICE_ACCOUNT=" + o.service_account;
}

}  // namespace

Result<Pod*> LocalCluster::AddPod(const PodOptions& options) {
  std::string key = options.namespace_name + "/" + options.name;
  if (pods_.count(key)) return MakeError("pod " + key + " already exists");
  if (options.node < 1 || options.node > static_cast<int>(nodes_.size()))
    return MakeError("no node " + std::to_string(options.node));
  Node& n = node(options.node);
  auto pod = std::make_unique<Pod>();
  pod->options = options;
  pod->netns_name = options_.name + "-" + options.namespace_name + "-" + options.name;
  pod->netns_path = NetnsPath(pod->netns_name);
  pod->cgroup = n.pod_cgroup + "/" + pod->FileKey();
  std::string pod_dir = options_.state_dir + "/pods/" + pod->FileKey();
  pod->hosts_file = pod_dir + "/hosts";
  Pod* raw = pod.get();
  pods_[key] = std::move(pod);
  auto fail = [&](Error e) -> Result<Pod*> {
    (void)RemovePod(options.namespace_name, options.name);
    return e;
  };
  if (NetnsExists(raw->netns_name)) return fail(MakeError("netns " + raw->netns_name + " already exists"));
  std::error_code ec;
  fs::create_directories(pod_dir, ec);
  if (ec) return fail(MakeError("create " + pod_dir + ": " + ec.message()));
  if (auto r = RunIp({"netns", "add", raw->netns_name}); !r.ok()) return fail(r.error());
  if (auto r = RunIp({"-n", raw->netns_name, "link", "set", "lo", "up"}); !r.ok()) return fail(r.error());
  if (auto r = MakeCgroup(raw->cgroup); !r.ok()) return fail(r.error());
  CniAttachment att{raw->netns_name, raw->netns_path, "eth0", CniArgs(options)};
  auto added = Cni(n).Add(CniConfig(n), att);
  if (!added.ok()) return fail(added.error());
  raw->ip = added->ip;
  std::ofstream(raw->hosts_file) << "127.0.0.1\tlocalhost\n" << raw->Ip() << "\t" << options.name << "\n";
  if (options.enroll && !options_.chain_ferry_cni) {
    if (auto r = EnrollPod(*raw); !r.ok()) return fail(r.error());
  }
  return raw;
}

Result<void> LocalCluster::EnrollPod(const Pod& pod) {
  inpod::PodSpec spec{pod.options.namespace_name, pod.options.name, pod.options.service_account, pod.netns_path,
                      pod.ip};
  auto reply = enroll::SendRequest(node(pod.options.node).enroll_socket, enroll::AddRequest(spec), 10000);
  if (!reply.ok()) return MakeError("enroll " + pod.Key() + ": " + reply.error().Message());
  auto doc = json::parse(*reply, nullptr, false);
  if (doc.is_discarded() || !doc.value("ok", false))
    return MakeError("enroll " + pod.Key() + ": agent refused: " + *reply);
  return Ok();
}

Result<void> LocalCluster::UnenrollPod(const Pod& pod) {
  auto reply = enroll::SendRequest(node(pod.options.node).enroll_socket,
                                   enroll::RemoveRequest(pod.options.namespace_name, pod.options.name), 10000);
  if (!reply.ok()) return MakeError("unenroll " + pod.Key() + ": " + reply.error().Message());
  auto doc = json::parse(*reply, nullptr, false);
  if (doc.is_discarded() || !doc.value("ok", false)) return MakeError("unenroll " + pod.Key() + ": " + *reply);
  return Ok();
}

Result<void> LocalCluster::RemovePod(const std::string& namespace_name, const std::string& name) {
  auto it = pods_.find(namespace_name + "/" + name);
  if (it == pods_.end()) return Ok();
  Pod& pod = *it->second;
  Node& n = node(pod.options.node);
  std::string errors;
  // Whoever told the agent about it (ferry-cni or us), the agent must forget it before the netns
  // goes; a pod it does not know is not an error worth reporting here.
  if (AgentRunning(pod.options.node)) (void)UnenrollPod(pod);
  for (const auto& p : pod.processes) StopDetached(p, std::chrono::seconds(2));
  if (auto r = RemoveCgroupTree(pod.cgroup); !r.ok()) errors += r.error().Message() + "; ";
  if (NetnsExists(pod.netns_name)) {
    CniAttachment att{pod.netns_name, pod.netns_path, "eth0", CniArgs(pod.options)};
    if (auto r = Cni(n).Del(CniConfig(n), att); !r.ok()) errors += r.error().Message() + "; ";
    if (auto r = RunIp({"netns", "del", pod.netns_name}); !r.ok()) errors += r.error().Message() + "; ";
  }
  std::error_code ec;
  if (!pod.hosts_file.empty()) fs::remove_all(fs::path(pod.hosts_file).parent_path(), ec);
  pods_.erase(it);
  if (!errors.empty()) return MakeError("remove pod " + namespace_name + "/" + name + ": " + errors);
  return Ok();
}

Pod* LocalCluster::FindPod(const std::string& namespace_name, const std::string& name) {
  auto it = pods_.find(namespace_name + "/" + name);
  return it == pods_.end() ? nullptr : it->second.get();
}

std::vector<Pod*> LocalCluster::pods() {
  std::vector<Pod*> out;
  for (auto& [key, pod] : pods_) out.push_back(pod.get());
  return out;
}

namespace {

SpawnOptions InPod(const Pod& pod, const std::vector<std::string>& argv) {
  SpawnOptions o;
  o.argv = argv;
  o.netns_path = pod.netns_path;
  o.cgroup = pod.cgroup;
  if (!pod.hosts_file.empty() && fs::exists(pod.hosts_file)) o.hosts_file = pod.hosts_file;
  return o;
}

}  // namespace

Result<pid_t> LocalCluster::StartInPod(Pod& pod, const std::vector<std::string>& argv, const std::string& log_path,
                                       const std::map<std::string, std::string>& env) {
  SpawnOptions o = InPod(pod, argv);
  o.env = env;
  o.stdout_path = log_path;
  o.detach = true;
  auto pid = Spawn(o);
  if (!pid.ok()) return pid;
  auto id = IdentifyProcess(*pid);
  pod.processes.push_back(id.ok() ? *id : ProcessId{*pid, 0});
  return pid;
}

Result<CommandResult> LocalCluster::RunInPod(const Pod& pod, const std::vector<std::string>& argv,
                                             std::chrono::milliseconds timeout) {
  return RunCommand(InPod(pod, argv), timeout);
}

Result<int> LocalCluster::ExecInPod(const Pod& pod, const std::vector<std::string>& argv) {
  auto pid = Spawn(InPod(pod, argv));
  if (!pid.ok()) return pid.error();
  int status = 0;
  while (::waitpid(*pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoError("waitpid");
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace ferry::local
