#include "cli/reconcile.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <chrono>
#include <set>
#include <thread>
#include <sstream>

#include "common/ipv4.h"
#include "local/services.h"
#include "local/workloads.h"

namespace ferry::cli {

namespace fs = std::filesystem;
using local::Manifest;

std::string ManifestDir(const std::string& state_dir) { return state_dir + "/manifests"; }
std::string InventoryPath(const std::string& state_dir) { return ManifestDir(state_dir) + "/.ferry/workloads.json"; }

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string Describe(const Manifest& m) {
  return Lower(m.kind) + "/" + m.name + (m.namespace_name.empty() ? "" : " -n " + m.namespace_name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Assigns the service's VIP (kept across re-applies) and records it in spec.clusterIP.
Result<void> AssignVip(LocalContext& ctx, local::VipAllocator& vips, Manifest& m) {
  std::string requested = local::ScalarOr(local::Field(m.doc, "spec", "clusterIP"));
  if (requested.empty()) {
    if (auto stored = ctx.store.Get(m.kind, m.namespace_name, m.name))
      requested = local::ScalarOr(local::Field(stored->doc, "spec", "clusterIP"));
  }
  auto vip = vips.Allocate(m.namespace_name + "/" + m.name, requested);
  if (!vip.ok()) return vip.error();
  m.doc["spec"]["clusterIP"] = *vip ? FormatIpv4(*vip) : std::string("None");
  return Ok();
}

}  // namespace

int StoreManifests(LocalContext& ctx, const std::vector<Manifest>& manifests, std::ostream& out) {
  local::VipAllocator vips(ctx.cluster->services());
  int refused = 0;
  for (Manifest m : manifests) {
    if (m.kind == "Service") {
      if (auto r = AssignVip(ctx, vips, m); !r.ok()) {
        out << "error: " << m.origin << ": " << r.error().Message() << "\n";
        ++refused;
        continue;
      }
    }
    std::string path = ctx.store.PathOf(m.kind, m.namespace_name, m.name);
    bool existed = fs::exists(path);
    std::string before = existed ? ReadFile(path) : "";
    if (auto r = ctx.store.Put(m); !r.ok()) {
      out << "error: " << r.error().Message() << "\n";
      ++refused;
      continue;
    }
    // Services take their VIP from the stored manifests on the next sync; record it now so a
    // second Service in the same apply does not get the same address.
    if (m.kind == "Service") {
      auto& services = ctx.cluster->services();
      std::string key = m.namespace_name + "/" + m.name;
      services.erase(std::remove_if(services.begin(), services.end(), [&](auto& s) { return s.Key() == key; }),
                     services.end());
      services.push_back({m.namespace_name, m.name, ParseIpv4(local::ScalarOr(local::Field(m.doc, "spec", "clusterIP"))).value_or(0),
                          {}, {}});
    }
    out << Describe(m) << (!existed ? " created" : ReadFile(path) == before ? " unchanged" : " configured") << "\n";
  }
  return refused;
}

int DeleteManifests(LocalContext& ctx, const std::vector<Manifest>& manifests, std::ostream& out) {
  int missing = 0;
  for (const auto& m : manifests) {
    auto removed = ctx.store.Remove(m.kind, m.namespace_name, m.name);
    if (!removed.ok()) {
      out << "error: " << removed.error().Message() << "\n";
      ++missing;
    } else if (!*removed) {
      out << "error: " << Describe(m) << " not found\n";
      ++missing;
    } else {
      out << Describe(m) << " deleted\n";
    }
  }
  return missing;
}

namespace {

std::vector<local::ServiceRecord> ServicesFrom(const std::vector<Manifest>& resources) {
  std::vector<local::ServiceRecord> out;
  for (const auto& m : resources) {
    if (m.kind != "Service") continue;
    local::ServiceRecord s;
    s.namespace_name = m.namespace_name;
    s.name = m.name;
    s.vip = ParseIpv4(local::ScalarOr(local::Field(m.doc, "spec", "clusterIP"))).value_or(0);
    s.selector = local::StringMap(local::Field(m.doc, "spec", "selector"));
    for (const auto& p : local::Field(m.doc, "spec", "ports")) {
      local::ServicePort port;
      port.name = local::ScalarOr(local::Field(p, "name"));
      port.port = static_cast<uint32_t>(std::strtoul(local::ScalarOr(local::Field(p, "port"), "0").c_str(), nullptr, 10));
      port.target_port = local::ScalarOr(local::Field(p, "targetPort"), std::to_string(port.port));
      port.protocol = local::ScalarOr(local::Field(p, "protocol"), "TCP");
      s.ports.push_back(port);
    }
    out.push_back(s);
  }
  return out;
}

// Pods to remove: gone from the plan, unplaceable, or changed (re-created, like a rollout).
void RemoveStalePods(LocalContext& ctx, const local::WorkloadPlan& plan, const std::map<std::string, int>& placement,
                     std::ostream& out, std::vector<std::string>& errors) {
  std::map<std::string, const local::PodPlan*> wanted;
  for (const auto& p : plan.pods) wanted[p.Key()] = &p;
  for (local::Pod* pod : ctx.cluster->pods()) {
    auto it = wanted.find(pod->Key());
    auto place = placement.find(pod->Key());
    bool keep = it != wanted.end() && place != placement.end() && place->second == pod->options.node &&
                it->second->Fingerprint() == pod->fingerprint;
    if (keep) continue;
    std::string ns = pod->options.namespace_name, name = pod->options.name;
    if (auto r = ctx.cluster->RemovePod(ns, name); !r.ok()) errors.push_back(r.error().Message());
    out << "pod/" << name << " -n " << ns << " deleted\n";
  }
}

std::vector<std::pair<local::Pod*, const local::PodPlan*>> AddNewPods(LocalContext& ctx, const local::WorkloadPlan& plan,
                                                                     const std::map<std::string, int>& placement,
                                                                     const std::set<std::string>& mesh,
                                                                     std::ostream& out, std::vector<std::string>& errors) {
  std::vector<std::pair<local::Pod*, const local::PodPlan*>> fresh;
  for (const auto& p : plan.pods) {
    auto place = placement.find(p.Key());
    if (place == placement.end() || ctx.cluster->FindPod(p.namespace_name, p.name)) continue;
    local::PodOptions options{p.namespace_name, p.name, p.service_account, place->second,
                              mesh.count(p.namespace_name) > 0, p.labels};
    auto pod = ctx.cluster->AddPod(options);
    if (!pod.ok()) {
      errors.push_back("pod " + p.Key() + ": " + pod.error().Message());
      continue;
    }
    (*pod)->fingerprint = p.Fingerprint();
    fresh.emplace_back(*pod, &p);
    out << "pod/" << p.name << " -n " << p.namespace_name << " created on node-" << place->second << " ("
        << (*pod)->Ip() << ")\n";
  }
  return fresh;
}

// Without ferry-cni, ferryctl keeps each agent's enrolled set equal to the pods of mesh namespaces.
void SyncEnrollment(LocalContext& ctx, const std::set<std::string>& mesh, std::vector<std::string>& errors) {
  for (const auto& node : ctx.cluster->nodes()) {
    auto enrolled = ctx.cluster->EnrolledPods(node.index);
    if (!enrolled.ok()) {
      errors.push_back(node.name + ": agent unreachable: " + enrolled.error().Message());
      continue;
    }
    std::set<std::string> have(enrolled->begin(), enrolled->end());
    for (local::Pod* pod : ctx.cluster->pods()) {
      if (pod->options.node != node.index) continue;
      bool want = mesh.count(pod->options.namespace_name) > 0;
      pod->options.enroll = want;
      if (want && !have.count(pod->Key())) {
        if (auto r = ctx.cluster->EnrollPod(*pod); !r.ok()) errors.push_back(r.error().Message());
      } else if (!want && have.count(pod->Key())) {
        if (auto r = ctx.cluster->UnenrollPod(*pod); !r.ok()) errors.push_back(r.error().Message());
      }
    }
  }
}

void WriteHostsFiles(LocalContext& ctx, const std::set<std::string>& mesh, std::vector<std::string>& errors) {
  std::vector<local::PodAddress> addresses;
  for (local::Pod* pod : ctx.cluster->pods())
    addresses.push_back({pod->options.namespace_name, pod->options.name, pod->ip, pod->options.labels});
  for (local::Pod* pod : ctx.cluster->pods()) {
    local::PodAddress self{pod->options.namespace_name, pod->options.name, pod->ip, pod->options.labels};
    std::string text = local::RenderHostsFile(self, mesh.count(self.namespace_name) > 0, ctx.cluster->services(), addresses);
    // In place (same inode): the file is bind-mounted into running pods, a rename would not show.
    std::ofstream outf(pod->hosts_file, std::ios::trunc);
    outf << text;
    if (!outf.flush()) errors.push_back("write " + pod->hosts_file);
  }
}

}  // namespace

Result<void> WriteInventory(LocalContext& ctx) {
  std::vector<local::InventoryEntry> entries;
  for (local::Pod* pod : ctx.cluster->pods()) {
    entries.push_back({pod->options.namespace_name, pod->options.name, pod->options.service_account, pod->Ip(),
                       ctx.cluster->node(pod->options.node).name, pod->options.labels});
  }
  std::map<std::string, std::string> node_ips;
  for (const auto& n : ctx.cluster->nodes())
    if (!n.underlay_ip.empty()) node_ips[n.name] = n.underlay_ip;
  std::string path = InventoryPath(ctx.state_dir);
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << local::RenderInventory(entries, node_ips).dump(2) << "\n";
    if (!out.flush()) return MakeError("write " + tmp);
  }
  fs::rename(tmp, path, ec);
  if (ec) return MakeError("rename " + tmp + ": " + ec.message());
  return Ok();
}

// A pod's program in a mesh namespace starts only once its agent has enrolled it: the agent learns
// the namespace's membership from the controller, which may lag this apply by a snapshot.
// Waiting here (as a kubelet waits for the CNI) means no pod program ever runs unmeshed.
std::set<std::string> WaitUntilEnrolled(LocalContext& ctx, const std::vector<std::pair<local::Pod*, const local::PodPlan*>>& fresh,
                                        const std::set<std::string>& mesh, std::chrono::seconds timeout,
                                        std::vector<std::string>& errors) {
  std::set<std::string> waiting;
  for (const auto& [pod, spec] : fresh)
    if (mesh.count(pod->options.namespace_name)) waiting.insert(pod->Key());
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!waiting.empty() && std::chrono::steady_clock::now() < deadline) {
    for (int n = 1; n <= static_cast<int>(ctx.cluster->nodes().size()); ++n) {
      auto enrolled = ctx.cluster->EnrolledPods(n);
      if (!enrolled.ok()) continue;
      for (const auto& key : *enrolled) waiting.erase(key);
    }
    if (!waiting.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (const auto& key : waiting)
    errors.push_back("pod " + key + ": not enrolled by its agent within " + std::to_string(timeout.count()) +
                     " s; its program was not started (a pod never runs unmeshed in a mesh namespace)");
  return waiting;
}

std::vector<std::string> Reconcile(LocalContext& ctx, std::ostream& out) {
  std::vector<std::string> errors;
  auto resources = ctx.store.LoadAll();
  if (!resources.ok()) return {resources.error().Message()};
  local::WorkloadPlan plan = local::ExpandWorkloads(*resources);
  errors.insert(errors.end(), plan.errors.begin(), plan.errors.end());
  std::set<std::string> mesh = local::MeshNamespaces(*resources, ctx.mesh_name);

  std::map<std::string, int> current;
  for (local::Pod* pod : ctx.cluster->pods()) current[pod->Key()] = pod->options.node;
  auto placement = local::PlacePods(plan.pods, static_cast<int>(ctx.cluster->nodes().size()), current, &errors);

  RemoveStalePods(ctx, plan, placement, out, errors);
  auto fresh = AddNewPods(ctx, plan, placement, mesh, out, errors);
  ctx.cluster->services() = ServicesFrom(*resources);
  if (ctx.DirectEnrollment()) SyncEnrollment(ctx, mesh, errors);
  WriteHostsFiles(ctx, mesh, errors);
  if (auto r = WriteInventory(ctx); !r.ok()) errors.push_back(r.error().Message());
  // Programs start last: their pod is attached, enrolled (when meshed) and has its hosts file.
  auto unenrolled = WaitUntilEnrolled(ctx, fresh, mesh, std::chrono::seconds(15), errors);
  for (auto& [pod, spec] : fresh) {
    if (spec->argv.empty() || unenrolled.count(pod->Key())) continue;
    auto env = spec->env;
    env.emplace("HOSTNAME", pod->options.name);
    std::string log = ctx.cluster->LogPath(pod->FileKey());
    if (auto r = ctx.cluster->StartInPod(*pod, spec->argv, log, env); !r.ok())
      errors.push_back("pod " + pod->Key() + ": start " + spec->argv[0] + ": " + r.error().Message());
  }
  if (auto r = ctx.cluster->Save(); !r.ok()) errors.push_back(r.error().Message());
  return errors;
}

}  // namespace ferry::cli
