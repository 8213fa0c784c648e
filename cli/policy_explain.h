// `ferryctl policy explain --from NS/POD --to NS/SVC[:PORT] [--method M --path /p]`: would the
// mesh let this connection (or request) through, and which TrafficTarget and rule decide? The
// answer comes from a node agent's /explain (127.0.0.1:15000 in its node's netns), which asks the
// same evaluator its data path uses: the destination pod's agent, or for a service the source's.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/local_commands.h"

namespace CLI {
class App;
}

namespace ferry::cli {

struct PolicyExplainOptions {
  std::string state_dir = kDefaultStateDir;
  std::string from;  // NS/POD, NS/pod/NAME or NS/deploy/NAME
  std::string to;    // NS/SVC[:PORT], NS/svc/NAME[:PORT], NS/POD:PORT, NS/pod/NAME:PORT, NS/deploy/NAME:PORT
  std::string method, path;
  std::vector<std::string> headers;  // "Name: value"
  std::string output = "table";      // table | json | yaml
  uint16_t admin_port = 15000;
};

// Exit status 0 when the agent answered (whatever it decided), 1 on an error (printed to err).
int PolicyExplain(const PolicyExplainOptions& options, std::ostream& out, std::ostream& err);
// Registers `policy explain` on `app`; when chosen, sets `run` to a call of PolicyExplain.
void AddPolicyCommands(CLI::App& app, std::function<int()>& run, std::string& state_dir);

// The human form of an /explain answer: the first line starts with the decision ("allow",
// "deny", "needs-request" or "mixed") and says why; then the TrafficTarget, the rule, and one
// row per destination identity or split backend when there are several.
std::string RenderExplanation(const nlohmann::json& answer);
// "a b/c?d" → "a%20b%2Fc%3Fd": a query parameter's value.
std::string PercentEncode(const std::string& value);

}  // namespace ferry::cli
