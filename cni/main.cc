// ferry-cni entry point: reads the CNI environment and stdin, prints the result or error.
#include <cstdlib>
#include <iostream>
#include <iterator>

#include "agent/enroll/enroll_protocol.h"
#include "cni/cni_plugin.h"

namespace {
std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}
constexpr int kAgentTimeoutMs = 10000;
}  // namespace

int main() {
  ferry::cni::CniEnv env{Env("CNI_COMMAND"), Env("CNI_CONTAINERID"), Env("CNI_NETNS"), Env("CNI_IFNAME"), Env("CNI_ARGS")};
  std::string config;
  if (env.command != "VERSION") config.assign(std::istreambuf_iterator<char>(std::cin), {});
  auto out = ferry::cni::RunPlugin(env, config, [](const std::string& socket, const std::string& request) {
    return ferry::enroll::SendRequest(socket, request, kAgentTimeoutMs);
  });
  std::cout << out.stdout_text;
  return out.exit_code;
}
