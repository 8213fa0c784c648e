// Reads an agent's debug endpoint (127.0.0.1:15000 of its node's network namespace) from the
// host: the socket is made inside the node's netns by a short-lived thread (local/port_forward.h),
// so ferryctl itself never changes namespace and the endpoint never has to listen anywhere else.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/result.h"

namespace ferry::cli {

struct AdminAnswer {
  int status = 0;
  std::string body;
};

// GET `path` from 127.0.0.1:`port` inside the network namespace at `netns_path`.
Result<AdminAnswer> FetchFromNetns(const std::string& netns_path, uint16_t port, const std::string& path,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace ferry::cli
