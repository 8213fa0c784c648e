// The iproute2 commands a local cluster runs: network namespaces, links, addresses and routes.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace ferry::local {

// Runs /usr/sbin/ip with `args`; a non-zero exit is an error carrying the command and its output.
Result<void> RunIp(const std::vector<std::string>& args);
bool NetnsExists(const std::string& name);
std::string NetnsPath(const std::string& name);  // /var/run/netns/<name>
bool HostLinkExists(const std::string& name);    // a link of the caller's network namespace
// Writes a sysctl (e.g. "net/ipv4/ip_forward") inside a network namespace.
Result<void> SetNetnsSysctl(const std::string& netns_path, const std::string& key, const std::string& value);

}  // namespace ferry::local
