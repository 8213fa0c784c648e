// The verbs of `ferryctl local` and `ferryctl namespace`. Each returns the process exit status
// and writes what a user should see to `out` (results) and `err` (problems).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "cli/reconcile.h"

namespace ferry::cli {

constexpr const char* kDefaultStateDir = "/var/lib/ferry/local";
constexpr const char* kControllerListen = "198.19.0.1:15012";

struct UpOptions {
  std::string state_dir = kDefaultStateDir;
  int nodes = 2;
  std::string mesh_name = "ferry";
  std::string agent_bin, controller_bin, cni_bin;  // empty = found automatically
  std::string agent_mode = "auto";                 // auto | controller | policy-file
  int ack_timeout_s = 60;
  std::string trust_domain = "cluster.local";
  std::string cert_ttl;  // empty = the controller's default
  bool access_log = false;  // agents log each connection and request to <state>/node-N/access.log
};

int LocalUp(const UpOptions& options, std::ostream& out, std::ostream& err);
int LocalDown(const std::string& state_dir, std::ostream& out, std::ostream& err);
int LocalApply(const std::string& state_dir, const std::string& path, const std::string& default_ns, std::ostream& out,
               std::ostream& err);
int LocalDelete(const std::string& state_dir, const std::string& path, const std::string& default_ns,
                std::ostream& out, std::ostream& err);

struct GetOptions {
  std::string state_dir = kDefaultStateDir;
  std::string what;       // pods | services | nodes
  std::string namespace_name;  // empty = all
  std::string output = "table";  // table | json
};
int LocalGet(const GetOptions& options, std::ostream& out, std::ostream& err);

// target: a pod name or deploy/NAME (its first pod).
int LocalExec(const std::string& state_dir, const std::string& namespace_name, const std::string& target,
              const std::vector<std::string>& command, std::ostream& err);

struct PortForwardOptions {
  std::string state_dir = kDefaultStateDir;
  std::string namespace_name = "default";
  std::string target;                // POD or deploy/NAME, resolved as for exec
  std::string ports;                 // LOCAL:REMOTE, PORT or :REMOTE
  std::string address = "127.0.0.1";  // loopback only
};
// Listens on address:LOCAL and relays each connection to 127.0.0.1:REMOTE inside the pod's network
// namespace, until SIGINT or SIGTERM (then exits 0).
int LocalPortForward(const PortForwardOptions& options, std::ostream& out, std::ostream& err);

// Sets (add) or removes the ferry.sh/monitored-by label on the stored Namespace.
int NamespaceMembership(const std::string& state_dir, const std::string& namespace_name, const std::string& mesh_name,
                        bool add, std::ostream& out, std::ostream& err);

// Stops or starts one component of a running local cluster (for drills and tests): the
// controller, or the agent of `node`. Stopping uses SIGTERM, or SIGKILL with `kill`.
int LocalComponent(const std::string& state_dir, bool start, const std::string& component, const std::string& node,
                   bool kill, std::ostream& out, std::ostream& err);

// A pod by name, pod/NAME or deploy/NAME (the deployment's first running pod) in namespace `ns`.
Result<local::Pod*> ResolvePod(LocalContext& ctx, const std::string& ns, const std::string& target);

// Opens the recorded cluster and its manifest store; resolves `state_dir` to an absolute path.
Result<LocalContext> OpenContext(const std::string& state_dir);
std::string AbsoluteStateDir(const std::string& state_dir);
// OpenContext for a verb that only reads: a clear error when no cluster is recorded there, and
// the state lock held while reading (not after), so it never sees a verb's half-done change.
Result<LocalContext> OpenRecorded(const std::string& state_dir);

}  // namespace ferry::cli
