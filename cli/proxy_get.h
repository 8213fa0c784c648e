// `ferryctl proxy get config_dump|workloads|certs|connections POD|NODE`: what a node's agent
// reports on its debug endpoint. A node name is used directly; a pod (NAME, pod/NAME or
// deploy/NAME in -n NAMESPACE) stands for the node it runs on.
#pragma once

#include <functional>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/local_commands.h"
#include "cli/render.h"  // RenderYaml

namespace CLI {
class App;
}

namespace ferry::cli {

struct ProxyGetOptions {
  std::string state_dir = kDefaultStateDir;
  std::string what;    // config_dump | workloads | certs | connections
  std::string target;  // NODE, POD, pod/POD or deploy/NAME
  std::string namespace_name = "default";
  std::string output = "json";  // json | yaml | table
  uint16_t admin_port = 15000;
};

int ProxyGet(const ProxyGetOptions& options, std::ostream& out, std::ostream& err);
// Registers `proxy get` on `app`; when chosen, sets `run` to a call of ProxyGet.
void AddProxyCommands(CLI::App& app, std::function<int()>& run, std::string& state_dir);

// The rendering, separate so it is testable without a cluster. `what` picks the table's columns.
std::string RenderTable(const std::string& what, const nlohmann::json& answer);

}  // namespace ferry::cli
