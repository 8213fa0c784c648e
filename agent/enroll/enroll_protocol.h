// The enrollment API spoken on the agent's Unix socket by ferry-cni and ferryctl: one JSON object
// per line in each direction.
//
//   {"op":"add","pod":{"namespace":"app","name":"a","serviceAccount":"sa","ip":"198.18.1.2",
//                      "netns":"/var/run/netns/x"}}
//   {"op":"remove","namespace":"app","name":"a"}
//   {"op":"list"}
//   {"op":"reload"}                                   (re-read the policy file)
//   {"op":"status"}                                   (live connections with their TLS mode,
//                                                      proxy counters, workload certificates)
// Replies: {"ok":true, ...} or {"ok":false,"error":"<why>"}. "add" answers {"ok":true,"enrolled":b}
// (false: the pod's namespace is not in the mesh); "list" answers {"ok":true,"pods":[enrolled],
// "known":[every pod reported]}.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "agent/inpod/pod_registry.h"
#include "common/result.h"

namespace ferry::enroll {

struct AddPod { inpod::PodSpec pod; };
struct RemovePod { std::string namespace_name; std::string name; };
struct ListPods {};
struct ReloadPolicy {};
struct AgentStatus {};
using Request = std::variant<AddPod, RemovePod, ListPods, ReloadPolicy, AgentStatus>;

Result<Request> ParseRequest(const std::string& line);

std::string OkReply();
std::string ErrorReply(const std::string& error);
std::string EnrolledReply(bool enrolled);
std::string ListReply(const std::vector<inpod::PodSpec>& enrolled, const std::vector<inpod::PodSpec>& known);

// Client side, for tools that talk to the agent: sends one request, returns the reply line.
Result<std::string> SendRequest(const std::string& socket_path, const std::string& request_line,
                                int timeout_ms);
std::string AddRequest(const inpod::PodSpec& pod);
std::string RemoveRequest(const std::string& namespace_name, const std::string& name);

}  // namespace ferry::enroll
