// The `ferryctl proxy` verbs' command line.
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/proxy_get.h"

namespace ferry::cli {

void AddProxyCommands(CLI::App& app, std::function<int()>& run, std::string& state_dir) {
  CLI::App* proxy = app.add_subcommand("proxy", "inspect a node's agent (its debug endpoint, 127.0.0.1:15000 of the node)");
  proxy->require_subcommand(1);
  static ProxyGetOptions get;
  CLI::App* get_cmd = proxy->add_subcommand("get", "show what a node's agent holds: its policy snapshot, workloads, "
                                                   "certificates or live connections");
  get_cmd->add_option("what", get.what, "config_dump | workloads | certs | connections")
      ->required()
      ->check(CLI::IsMember({"config_dump", "workloads", "certs", "connections"}));
  get_cmd->add_option("target", get.target, "NODE, or POD / pod/POD / deploy/NAME (its node)")->required();
  get_cmd->add_option("-n,--namespace", get.namespace_name, "the pod's namespace")->capture_default_str();
  get_cmd->add_option("-o,--output", get.output, "json | yaml | table")
      ->capture_default_str()
      ->check(CLI::IsMember({"json", "yaml", "table"}));
  get_cmd->add_option("--admin-port", get.admin_port, "the agents' debug port")->capture_default_str();
  get_cmd->add_option("--state", state_dir, "state directory of the local cluster")->capture_default_str();
  get_cmd->callback([&] {
    run = [&] {
      get.state_dir = state_dir;
      return ProxyGet(get, std::cout, std::cerr);
    };
  });
}

}  // namespace ferry::cli
