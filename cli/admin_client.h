// Reads an agent's debug endpoint (127.0.0.1:15000 of its node's network namespace) from the
// host: the socket is made inside the node's netns by a short-lived thread (local/port_forward.h),
// so ferryctl itself never changes namespace and the endpoint never has to listen anywhere else.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "common/ipv4.h"
#include "common/result.h"

namespace ferry::cli {

struct AdminAnswer {
  int status = 0;
  std::string body;
};

// GET `path` from 127.0.0.1:`port` inside the network namespace at `netns_path`.
Result<AdminAnswer> FetchFromNetns(const std::string& netns_path, uint16_t port, const std::string& path,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(10));
// GET `path` from `endpoint`, connecting from inside that network namespace (e.g. the agent's
// metrics on the node's underlay address).
Result<AdminAnswer> FetchFromNetns(const std::string& netns_path, Ipv4Endpoint endpoint, const std::string& path,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(10));

// GET a JSON object from the debug endpoint (127.0.0.1:`port`) of node `node_name`'s agent. The
// error says which agent and what went wrong: no answer, an error status (with the agent's
// {"error"} text), or an answer that is not a JSON object.
Result<nlohmann::json> AskAgent(const std::string& node_name, const std::string& netns_path, uint16_t port,
                                const std::string& path, std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace ferry::cli
