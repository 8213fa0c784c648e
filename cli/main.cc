// ferryctl: Ferry's command-line tool: `local` (a cluster on this machine), `namespace
// add|remove|list` (mesh membership), `proxy get`, `policy explain`, `dashboard`, `log-level`
// and `version`.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/dashboard.h"
#include "cli/local_commands.h"
#include "cli/operator_commands.h"
#include "cli/policy_explain.h"
#include "cli/proxy_get.h"

namespace {

using namespace ferry::cli;

struct Invocation {
  std::function<int()> run;
};

void AddStateOption(CLI::App* cmd, std::string& state_dir) {
  cmd->add_option("--state", state_dir, "state directory of the local cluster")->capture_default_str();
}

void AddLocalCommands(CLI::App& app, Invocation& inv, std::string& state_dir) {
  CLI::App* local = app.add_subcommand("local", "a Ferry cluster on this machine (nodes are network namespaces)");
  local->require_subcommand(1);

  static UpOptions up;
  CLI::App* up_cmd = local->add_subcommand("up", "create the nodes, start the controller and one agent per node");
  up_cmd->add_option("--nodes", up.nodes, "number of nodes")->capture_default_str()->check(CLI::Range(1, 200));
  up_cmd->add_option("--mesh-name", up.mesh_name, "namespaces labelled ferry.sh/monitored-by=<name> are meshed")
      ->capture_default_str();
  up_cmd->add_option("--agent-bin", up.agent_bin, "ferry-agent to run (default: next to ferryctl, or the build's)");
  up_cmd->add_option("--controller-bin", up.controller_bin, "ferry-controller to run");
  up_cmd->add_option("--cni-bin", up.cni_bin, "ferry-cni to chain after bridge + host-local");
  up_cmd->add_option("--agent-mode", up.agent_mode,
                     "controller: agents subscribe to the controller; policy-file: standalone agents; auto: "
                     "controller when the agent supports it")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "controller", "policy-file"}));
  up_cmd->add_option("--trust-domain", up.trust_domain, "SPIFFE trust domain of workload identities")
      ->capture_default_str();
  up_cmd->add_option("--cert-ttl", up.cert_ttl,
                     "lifetime of workload certificates, e.g. 2m or 24h (default: the controller's, 24h)");
  up_cmd->add_flag("--access-log", up.access_log,
                   "agents write one JSON line per connection and HTTP request to <state>/node-N/access.log");
  up_cmd->add_option("--ack-timeout", up.ack_timeout_s, "seconds to wait for every agent to ACK a snapshot")
      ->capture_default_str();
  AddStateOption(up_cmd, state_dir);
  up_cmd->callback([&] { inv.run = [&] { up.state_dir = state_dir; return LocalUp(up, std::cout, std::cerr); }; });

  static std::string component, component_node;
  static bool kill_component = false;
  for (const char* verb : {"stop", "start"}) {
    bool start = std::string(verb) == "start";
    CLI::App* cmd = local->add_subcommand(verb, start ? "start the controller or a node's agent again"
                                                      : "stop the controller or a node's agent (a drill: the mesh must fail closed)");
    cmd->add_option("component", component, "controller | agent")->required()->check(CLI::IsMember({"controller", "agent"}));
    cmd->add_option("node", component_node, "the node, for an agent (e.g. node-1)");
    if (!start) cmd->add_flag("--kill", kill_component, "SIGKILL instead of SIGTERM");
    AddStateOption(cmd, state_dir);
    cmd->callback([&, start] {
      inv.run = [&, start] {
        if (component == "agent" && component_node.empty()) {
          std::cerr << "error: `agent` needs a node name\n";
          return 1;
        }
        return LocalComponent(state_dir, start, component, component == "agent" ? component_node : "", kill_component,
                              std::cout, std::cerr);
      };
    });
  }

  CLI::App* down = local->add_subcommand("down", "remove everything the local cluster made");
  AddStateOption(down, state_dir);
  down->callback([&] { inv.run = [&] { return LocalDown(state_dir, std::cout, std::cerr); }; });

  static std::string file, ns = "default";
  for (const char* verb : {"apply", "delete"}) {
    bool apply = std::string(verb) == "apply";
    CLI::App* cmd = local->add_subcommand(verb, apply ? "create or update resources from manifests"
                                                      : "delete the resources named in manifests");
    cmd->add_option("-f,--filename", file, "a YAML file or a directory of them")->required();
    cmd->add_option("-n,--namespace", ns, "namespace for resources that name none")->capture_default_str();
    AddStateOption(cmd, state_dir);
    cmd->callback([&, apply] {
      inv.run = [&, apply] {
        return apply ? LocalApply(state_dir, file, ns, std::cout, std::cerr)
                     : LocalDelete(state_dir, file, ns, std::cout, std::cerr);
      };
    });
  }

  static GetOptions get;
  CLI::App* get_cmd = local->add_subcommand("get", "list pods, services or nodes");
  get_cmd->add_option("what", get.what, "pods | services | nodes")->required();
  get_cmd->add_option("-n,--namespace", get.namespace_name, "only this namespace (default: all)");
  get_cmd->add_option("-o,--output", get.output, "table | json | yaml")->capture_default_str()->check(
      CLI::IsMember({"table", "json", "yaml"}));
  AddStateOption(get_cmd, state_dir);
  get_cmd->callback([&] { inv.run = [&] { get.state_dir = state_dir; return LocalGet(get, std::cout, std::cerr); }; });

  static std::string exec_ns = "default", target;
  static std::vector<std::string> command;
  CLI::App* exec = local->add_subcommand("exec", "run a command in a pod (its netns, cgroup and /etc/hosts)");
  exec->add_option("-n,--namespace", exec_ns, "the pod's namespace")->capture_default_str();
  exec->add_option("pod", target, "POD or deploy/NAME")->required();
  exec->add_option("command", command, "the command, after --");
  AddStateOption(exec, state_dir);
  exec->callback([&] { inv.run = [&] { return LocalExec(state_dir, exec_ns, target, command, std::cerr); }; });

  CLI::App* scrape = local->add_subcommand("scrape-config",
                                            "print a Prometheus config that scrapes the agents and the controller");
  AddStateOption(scrape, state_dir);
  scrape->callback([&] { inv.run = [&] { return LocalScrapeConfigCommand(state_dir, std::cout, std::cerr); }; });

  static PortForwardOptions forward;
  CLI::App* port_forward = local->add_subcommand(
      "port-forward", "forward a local port to a pod's port (to 127.0.0.1:REMOTE inside the pod) until Ctrl-C");
  port_forward->add_option("-n,--namespace", forward.namespace_name, "the pod's namespace")->capture_default_str();
  port_forward->add_option("pod", forward.target, "POD or deploy/NAME")->required();
  port_forward->add_option("ports", forward.ports, "LOCAL:REMOTE, PORT, or :REMOTE (LOCAL 0 = any free port)")
      ->required();
  port_forward->add_option("--address", forward.address, "where to listen: localhost or a 127.x.y.z address")
      ->capture_default_str();
  AddStateOption(port_forward, state_dir);
  port_forward->callback([&] {
    inv.run = [&] {
      forward.state_dir = state_dir;
      return LocalPortForward(forward, std::cout, std::cerr);
    };
  });
}

CLI::App* AddNamespaceCommands(CLI::App& app, Invocation& inv, std::string& state_dir) {
  CLI::App* nscmd = app.add_subcommand("namespace", "add a namespace to the mesh, remove it, or list them");
  nscmd->require_subcommand(1);
  static std::string name, mesh;
  for (const char* verb : {"add", "remove"}) {
    bool add = std::string(verb) == "add";
    CLI::App* cmd = nscmd->add_subcommand(verb, add ? "label the namespace ferry.sh/monitored-by=<mesh>: its pods "
                                                      "are enrolled"
                                                    : "remove the label: its pods leave the mesh (not re-created)");
    cmd->add_option("namespace", name, "the namespace")->required();
    cmd->add_option("--mesh-name", mesh, "the mesh (default: the local cluster's)");
    AddStateOption(cmd, state_dir);
    cmd->callback([&, add] {
      inv.run = [&, add] { return NamespaceMembership(state_dir, name, mesh, add, std::cout, std::cerr); };
    });
  }
  return nscmd;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ferryctl: Ferry service mesh command-line tool"};
  app.require_subcommand(1);
  std::string state_dir = kDefaultStateDir;
  Invocation inv;
  AddLocalCommands(app, inv, state_dir);
  CLI::App* namespace_command = AddNamespaceCommands(app, inv, state_dir);
  AddProxyCommands(app, inv.run, state_dir);
  AddPolicyCommands(app, inv.run, state_dir);
  AddDashboardCommand(app, inv.run, state_dir);
  AddOperatorCommands(app, *namespace_command, inv.run, state_dir);
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  return inv.run ? inv.run() : 0;
}
