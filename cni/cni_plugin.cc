#include "cni/cni_plugin.h"

#include "agent/enroll/enroll_protocol.h"
#include "common/ipv4.h"

namespace ferry::cni {

using nlohmann::json;

namespace {

constexpr const char* kSupportedVersions[] = {"0.4.0", "1.0.0"};

std::string FirstIpv4(const json& prev_result) {
  if (!prev_result.is_object() || !prev_result.contains("ips") || !prev_result["ips"].is_array()) return "";
  for (const auto& ip : prev_result["ips"]) {
    if (!ip.is_object() || !ip.contains("address") || !ip["address"].is_string()) continue;
    std::string cidr = ip["address"].get<std::string>();
    std::string addr = cidr.substr(0, cidr.find('/'));
    if (ParseIpv4(addr)) return addr;
  }
  return "";
}

PluginOutput Fail(const std::string& version, int code, const std::string& msg, const std::string& details = "") {
  return {1, CniError(version, code, msg, details)};
}

}  // namespace

std::string CniError(const std::string& cni_version, int code, const std::string& msg, const std::string& details) {
  return json{{"cniVersion", cni_version}, {"code", code}, {"msg", msg}, {"details", details}}.dump();
}

Result<std::map<std::string, std::string>> ParseCniArgs(const std::string& args) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < args.size()) {
    size_t end = args.find(';', start);
    if (end == std::string::npos) end = args.size();
    std::string pair = args.substr(start, end - start);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      if (eq == std::string::npos || eq == 0) return MakeError("CNI_ARGS: malformed pair \"" + pair + "\"");
      out[pair.substr(0, eq)] = pair.substr(eq + 1);
    }
    start = end + 1;
  }
  return out;
}

PluginOutput RunPlugin(const CniEnv& env, const std::string& stdin_config, const AgentCall& call_agent) {
  if (env.command == "VERSION") {
    return {0, json{{"cniVersion", "1.0.0"}, {"supportedVersions", kSupportedVersions}}.dump()};
  }
  json config = json::parse(stdin_config, nullptr, false);
  if (config.is_discarded() || !config.is_object()) return Fail("1.0.0", kErrBadInput, "network config is not JSON");
  std::string version = config.value("cniVersion", "1.0.0");
  std::string socket = config.value("agentSocket", "");
  if (socket.empty()) return Fail(version, kErrBadInput, "agentSocket missing from the ferry-cni config");
  auto args = ParseCniArgs(env.args);
  if (!args.ok()) return Fail(version, kErrBadInput, args.error().Message());
  std::string ns = (*args)["K8S_POD_NAMESPACE"];
  std::string name = (*args)["K8S_POD_NAME"];
  if (ns.empty() || name.empty()) return Fail(version, kErrBadInput, "CNI_ARGS must carry K8S_POD_NAMESPACE and K8S_POD_NAME");

  if (env.command == "ADD") {
    json prev = config.value("prevResult", json());
    std::string ip = FirstIpv4(prev);
    if (ip.empty()) return Fail(version, kErrBadInput, "ferry-cni must be chained after a plugin that assigns an IPv4 address");
    std::string sa = (*args)["K8S_POD_SERVICE_ACCOUNT"];
    json request = {{"op", "add"},
                    {"pod", {{"namespace", ns}, {"name", name}, {"serviceAccount", sa.empty() ? "default" : sa},
                             {"ip", ip}, {"netns", env.netns}}}};
    auto reply = call_agent(socket, request.dump());
    if (!reply.ok())
      return Fail(version, kErrAgentUnavailable, "the Ferry agent did not confirm enrollment; refusing to start the pod unmeshed",
                  reply.error().Message());
    json r = json::parse(*reply, nullptr, false);
    if (!r.is_object() || !r.value("ok", false))
      return Fail(version, kErrAgentRefused, "the Ferry agent refused the pod", r.is_object() ? r.value("error", "") : *reply);
    prev["cniVersion"] = version;
    return {0, prev.dump()};
  }
  if (env.command == "DEL") {
    // Best effort: with the agent down there is nothing it could still be steering for this pod
    // once the netns is gone; a restarted agent drops pods whose netns no longer opens.
    (void)call_agent(socket, enroll::RemoveRequest(ns, name));
    return {0, ""};
  }
  if (env.command == "CHECK") {
    auto reply = call_agent(socket, R"({"op":"list"})");
    if (!reply.ok()) return {0, ""};
    json r = json::parse(*reply, nullptr, false);
    if (!r.is_object()) return Fail(version, kErrAgentRefused, "unreadable agent reply", *reply);
    json pods = r.contains("known") ? r["known"] : r.value("pods", json::array());
    for (const auto& p : pods)
      if (p.is_object() && p.value("namespace", "") == ns && p.value("name", "") == name) return {0, ""};
    return Fail(version, kErrAgentRefused, "the Ferry agent does not know pod " + ns + "/" + name);
  }
  return Fail(version, 4, "unsupported CNI_COMMAND " + env.command);
}

}  // namespace ferry::cni
