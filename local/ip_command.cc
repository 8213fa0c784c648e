#include "local/ip_command.h"

#include <filesystem>

#include "local/process.h"

namespace ferry::local {

Result<void> RunIp(const std::vector<std::string>& args) {
  SpawnOptions o;
  o.argv = {"/usr/sbin/ip"};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  auto r = RunCommand(o, std::chrono::seconds(20));
  if (!r.ok()) return r.error();
  if (r->exit_code != 0) {
    std::string cmd;
    for (const auto& a : o.argv) cmd += a + " ";
    return MakeError(cmd + "failed: " + r->errors + r->output);
  }
  return Ok();
}

std::string NetnsPath(const std::string& name) { return "/var/run/netns/" + name; }

bool NetnsExists(const std::string& name) { return std::filesystem::exists(NetnsPath(name)); }

bool HostLinkExists(const std::string& name) { return std::filesystem::exists("/sys/class/net/" + name); }

Result<void> SetNetnsSysctl(const std::string& netns_path, const std::string& key, const std::string& value) {
  // /proc/sys/net reflects the network namespace of the process that opens it.
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", "echo \"$1\" > \"/proc/sys/$2\"", "sysctl", value, key};
  o.netns_path = netns_path;
  auto r = RunCommand(o, std::chrono::seconds(10));
  if (!r.ok()) return r.error();
  if (r->exit_code != 0) return MakeError("sysctl " + key + "=" + value + " in " + netns_path + ": " + r->errors);
  return Ok();
}

}  // namespace ferry::local
