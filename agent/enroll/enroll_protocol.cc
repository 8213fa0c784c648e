#include "agent/enroll/enroll_protocol.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "agent/inpod/pod_state.h"
#include "common/ipv4.h"
#include "common/unique_fd.h"

namespace ferry::enroll {

using nlohmann::json;

namespace {

// Kubernetes names are DNS labels/subdomains; refusing anything else keeps names safe to use in
// paths and pinned object names.
bool IsDnsName(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  return s.front() != '-' && s.back() != '-';
}

Result<inpod::PodSpec> ParsePod(const json& p) {
  if (!p.is_object()) return MakeError("\"pod\" must be an object");
  inpod::PodSpec spec;
  auto str = [&](const char* key) { return p.contains(key) && p[key].is_string() ? p[key].get<std::string>() : ""; };
  spec.namespace_name = str("namespace");
  spec.name = str("name");
  spec.service_account = str("serviceAccount");
  spec.netns_path = str("netns");
  if (!IsDnsName(spec.namespace_name)) return MakeError("pod.namespace missing or not a DNS name");
  if (!IsDnsName(spec.name)) return MakeError("pod.name missing or not a DNS name");
  if (spec.service_account.empty()) spec.service_account = "default";
  if (!IsDnsName(spec.service_account)) return MakeError("pod.serviceAccount is not a DNS name");
  if (spec.netns_path.empty() || spec.netns_path.front() != '/') return MakeError("pod.netns must be an absolute path");
  auto ip = ParseIpv4(str("ip"));
  if (!ip || *ip == 0 || IsLoopback(*ip)) return MakeError("pod.ip missing or not a usable IPv4 address");
  spec.ip = *ip;
  return spec;
}

}  // namespace

Result<Request> ParseRequest(const std::string& line) {
  json req = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (req.is_discarded() || !req.is_object()) return MakeError("request is not a JSON object");
  std::string op = req.contains("op") && req["op"].is_string() ? req["op"].get<std::string>() : "";
  if (op == "add") {
    if (!req.contains("pod")) return MakeError("add: missing \"pod\"");
    auto pod = ParsePod(req["pod"]);
    if (!pod.ok()) return MakeError("add: " + pod.error().context);
    return Request{AddPod{*pod}};
  }
  if (op == "remove") {
    RemovePod r{req.value("namespace", ""), req.value("name", "")};
    if (!IsDnsName(r.namespace_name) || !IsDnsName(r.name)) return MakeError("remove: namespace and name required");
    return Request{r};
  }
  if (op == "list") return Request{ListPods{}};
  if (op == "reload") return Request{ReloadPolicy{}};
  if (op == "status") return Request{AgentStatus{}};
  return MakeError("unknown op \"" + op + "\" (expected add, remove, list, reload, status)");
}

std::string OkReply() { return json{{"ok", true}}.dump(); }
std::string ErrorReply(const std::string& error) { return json{{"ok", false}, {"error", error}}.dump(); }

std::string EnrolledReply(bool enrolled) { return json{{"ok", true}, {"enrolled", enrolled}}.dump(); }

namespace {
json PodList(const std::vector<inpod::PodSpec>& pods) {
  json list = json::array();
  for (const auto& p : pods) list.push_back(inpod::PodSpecToJson(p));
  return list;
}
}  // namespace

std::string ListReply(const std::vector<inpod::PodSpec>& enrolled, const std::vector<inpod::PodSpec>& known) {
  return json{{"ok", true}, {"pods", PodList(enrolled)}, {"known", PodList(known)}}.dump();
}

std::string AddRequest(const inpod::PodSpec& pod) {
  return json{{"op", "add"}, {"pod", inpod::PodSpecToJson(pod)}}.dump();
}

std::string RemoveRequest(const std::string& namespace_name, const std::string& name) {
  return json{{"op", "remove"}, {"namespace", namespace_name}, {"name", name}}.dump();
}

Result<std::string> SendRequest(const std::string& socket_path, const std::string& request_line,
                                int timeout_ms) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoError("socket(AF_UNIX)");
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(sa.sun_path)) return MakeError("socket path too long: " + socket_path);
  socket_path.copy(sa.sun_path, socket_path.size());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
    return ErrnoError("connect " + socket_path);
  std::string out = request_line + "\n";
  if (::send(fd.get(), out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size()))
    return ErrnoError("send to " + socket_path);
  std::string reply;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  while (reply.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd pfd{fd.get(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) <= 0)
      return MakeError("no reply from the agent at " + socket_path + " within " + std::to_string(timeout_ms) + " ms", ETIMEDOUT);
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n < 0) return ErrnoError("recv from " + socket_path);
    if (n == 0) return MakeError("agent closed the connection without a reply");
    reply.append(buf, static_cast<size_t>(n));
  }
  return reply.substr(0, reply.find('\n'));
}

}  // namespace ferry::enroll
