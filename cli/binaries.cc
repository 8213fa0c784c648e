#include "cli/binaries.h"

#include <unistd.h>

#include <filesystem>

#include "local/process.h"

namespace ferry::cli {

namespace fs = std::filesystem;

namespace {

bool Executable(const std::string& path) { return !path.empty() && ::access(path.c_str(), X_OK) == 0; }

std::string SelfDir() {
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : self.parent_path().string();
}

// explicit → <ferryctl dir>/<name> → the build tree's path; "" when none is executable.
std::string Locate(const std::string& explicit_path, const std::string& name, const std::string& build_path) {
  if (!explicit_path.empty()) return explicit_path;
  std::string beside = SelfDir() + "/" + name;
  if (Executable(beside)) return beside;
  if (Executable(build_path)) return build_path;
  return "";
}

}  // namespace

Result<Binaries> FindBinaries(const std::string& agent, const std::string& controller, const std::string& cni) {
  Binaries b;
  b.agent = Locate(agent, "ferry-agent", FERRY_BUILD_AGENT_BIN);
  b.controller = Locate(controller, "ferry-controller", FERRY_BUILD_CONTROLLER_BIN);
  b.cni = Locate(cni, "ferry-cni", FERRY_BUILD_CNI_BIN);
  if (!Executable(b.agent)) return MakeError("ferry-agent not found (build it, or pass --agent-bin PATH)", ENOENT);
  if (!Executable(b.controller))
    return MakeError("ferry-controller not found (build it, or pass --controller-bin PATH)", ENOENT);
  if (!cni.empty() && !Executable(b.cni)) return MakeError("--cni-bin " + cni + " is not executable", ENOENT);
  if (!Executable(b.cni)) b.cni.clear();
  return b;
}

bool AgentSupportsController(const std::string& agent_binary) {
  local::SpawnOptions o;
  o.argv = {agent_binary, "--help"};
  auto r = local::RunCommand(o, std::chrono::seconds(10));
  return r.ok() && r->output.find("--controller") != std::string::npos;
}

}  // namespace ferry::cli
