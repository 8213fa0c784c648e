// ferryctl verbs for the operator that read or steer the running mesh as a whole:
// `version`, `namespace list` and `log-level`.
#pragma once

#include <functional>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/local_commands.h"

namespace CLI {
class App;
}

namespace ferry::cli {

// {"client": {"version", "commit", "build"}}.
nlohmann::json VersionJson();

// Every namespace the local cluster knows (a Namespace manifest or a pod in it): its mesh
// (the ferry.sh/monitored-by label, "" when outside), pods, and pods the agents report enrolled.
nlohmann::json NamespacesJson(LocalContext& ctx);

struct LogLevelOptions {
  std::string state_dir = kDefaultStateDir;
  std::string level;  // empty: only show each agent's level
  std::string node;   // empty: every node
  std::string output = "table";
  uint16_t admin_port = 15000;
};
// Sets (or shows) the log level of the agents through their debug endpoint (/logging?level=).
int LogLevel(const LogLevelOptions& options, std::ostream& out, std::ostream& err);

// `ferryctl local scrape-config`: a prometheus.yml for the recorded local cluster's agents and controller.
int LocalScrapeConfigCommand(const std::string& state_dir, std::ostream& out, std::ostream& err);

// Registers `version`, `namespace list` (beside add/remove, on the `namespace` command given)
// and `log-level`; when one is chosen, sets `run`.
void AddOperatorCommands(CLI::App& app, CLI::App& namespace_command, std::function<int()>& run,
                         std::string& state_dir);

}  // namespace ferry::cli
