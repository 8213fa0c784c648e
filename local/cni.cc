#include "local/cni.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/ipv4.h"
#include "local/process.h"

namespace ferry::local {

using nlohmann::json;

CniRuntime::CniRuntime(std::vector<std::string> plugin_dirs, std::string exec_netns, std::string cache_dir)
    : plugin_dirs_(std::move(plugin_dirs)), exec_netns_(std::move(exec_netns)), cache_dir_(std::move(cache_dir)) {}

Result<std::string> CniRuntime::FindPlugin(const std::string& type) const {
  for (const auto& dir : plugin_dirs_) {
    std::string path = dir + "/" + type;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  std::string searched;
  for (const auto& dir : plugin_dirs_) searched += (searched.empty() ? "" : ":") + dir;
  return MakeError("CNI plugin " + type + " not found in " + searched, ENOENT);
}

std::string CniRuntime::CachePath(const json& conflist, const CniAttachment& a) const {
  return cache_dir_ + "/" + conflist.value("name", "net") + "-" + a.container_id + "-" + a.ifname + ".json";
}

Result<json> CniRuntime::Invoke(const std::string& command, const json& conflist, const json& plugin,
                                const json& prev_result, const CniAttachment& a) {
  std::string type = plugin.value("type", "");
  if (type.empty() || type.find('/') != std::string::npos) return MakeError("CNI plugin without a valid type");
  json config = plugin;
  config["name"] = conflist.value("name", "");
  config["cniVersion"] = conflist.value("cniVersion", "1.0.0");
  if (!prev_result.is_null()) config["prevResult"] = prev_result;

  auto binary = FindPlugin(type);
  if (!binary.ok()) return binary.error();
  std::string cni_path;
  for (const auto& dir : plugin_dirs_) cni_path += (cni_path.empty() ? "" : ":") + dir;
  SpawnOptions o;
  o.argv = {*binary};
  o.env = {{"CNI_COMMAND", command}, {"CNI_CONTAINERID", a.container_id}, {"CNI_NETNS", a.netns_path},
           {"CNI_IFNAME", a.ifname},  {"CNI_PATH", cni_path},              {"CNI_ARGS", a.args}};
  o.netns_path = exec_netns_;
  o.stdin_data = config.dump();
  auto run = RunCommand(o, std::chrono::seconds(30));
  if (!run.ok()) return MakeError("CNI " + command + " " + type + ": " + run.error().Message());
  json out = run->output.empty() ? json() : json::parse(run->output, nullptr, false);
  if (run->exit_code != 0) {
    std::string msg = out.is_object() ? out.value("msg", "") + " " + out.value("details", "") : run->output;
    return MakeError("CNI " + command + " " + type + " failed (exit " + std::to_string(run->exit_code) +
                     "): " + msg + run->errors);
  }
  if (out.is_discarded()) return MakeError("CNI " + command + " " + type + ": output is not JSON");
  return out;
}

Result<CniResult> CniRuntime::Add(const json& conflist, const CniAttachment& a) {
  json prev;
  for (const auto& plugin : conflist.value("plugins", json::array())) {
    auto r = Invoke("ADD", conflist, plugin, prev, a);
    if (!r.ok()) {
      (void)Del(conflist, a);  // leave nothing half-attached
      return r.error();
    }
    if (!r->is_null()) prev = *r;
  }
  std::error_code ec;
  std::filesystem::create_directories(cache_dir_, ec);
  std::ofstream(CachePath(conflist, a)) << prev.dump();
  return ParseCniResult(prev);
}

Result<void> CniRuntime::Del(const json& conflist, const CniAttachment& a) {
  json prev;
  std::ifstream cached(CachePath(conflist, a));
  if (cached) {
    std::stringstream ss;
    ss << cached.rdbuf();
    prev = json::parse(ss.str(), nullptr, false);
    if (prev.is_discarded()) prev = json();
  }
  auto plugins = conflist.value("plugins", json::array());
  std::string errors;
  for (auto it = plugins.rbegin(); it != plugins.rend(); ++it) {
    auto r = Invoke("DEL", conflist, *it, prev, a);
    if (!r.ok()) errors += r.error().Message() + "; ";
  }
  std::filesystem::remove(CachePath(conflist, a));
  if (!errors.empty()) return MakeError(errors);
  return Ok();
}

Result<void> CniRuntime::Check(const json& conflist, const CniAttachment& a) {
  std::ifstream cached(CachePath(conflist, a));
  if (!cached) return MakeError("CNI CHECK: no cached result for " + a.container_id);
  std::stringstream ss;
  ss << cached.rdbuf();
  json prev = json::parse(ss.str(), nullptr, false);
  for (const auto& plugin : conflist.value("plugins", json::array())) {
    auto r = Invoke("CHECK", conflist, plugin, prev, a);
    if (!r.ok()) return r.error();
  }
  return Ok();
}

Result<CniResult> ParseCniResult(const json& raw) {
  CniResult result;
  result.raw = raw;
  for (const auto& ip : raw.value("ips", json::array())) {
    std::string cidr = ip.value("address", "");
    auto slash = cidr.find('/');
    auto addr = ParseIpv4(cidr.substr(0, slash));
    if (!addr) continue;  // IPv6 entries are skipped: pods are IPv4-only in Ferry for now
    result.ip = *addr;
    result.prefix_length = slash == std::string::npos ? 32 : std::stoi(cidr.substr(slash + 1));
    if (auto gw = ParseIpv4(ip.value("gateway", ""))) result.gateway = *gw;
    return result;
  }
  return MakeError("CNI result has no IPv4 address: " + raw.dump());
}

}  // namespace ferry::local
