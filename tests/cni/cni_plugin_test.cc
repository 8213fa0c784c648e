#include "cni/cni_plugin.h"

#include <gtest/gtest.h>

#include "test_result.h"

namespace ferry::cni {
namespace {

using nlohmann::json;

const char* kConfig = R"({"cniVersion":"1.0.0","name":"n","type":"ferry-cni","agentSocket":"/run/agent.sock",
  "prevResult":{"cniVersion":"1.0.0","ips":[{"address":"198.18.1.7/24","gateway":"198.18.1.1"}]}})";

CniEnv Env(const std::string& command) {
  return {command, "c1", "/var/run/netns/p", "eth0",
          "IgnoreUnknown=1;K8S_POD_NAMESPACE=app;K8S_POD_NAME=web-0;K8S_POD_SERVICE_ACCOUNT=web"};
}

// Stands in for the agent's Unix socket: records requests, answers with a canned reply or error.
struct FakeAgent {
  std::vector<json> requests;
  Result<std::string> reply = std::string(R"({"ok":true,"enrolled":true})");
  AgentCall Call() {
    return [this](const std::string& socket, const std::string& request) -> Result<std::string> {
      EXPECT_EQ(socket, "/run/agent.sock");
      requests.push_back(json::parse(request));
      return reply;
    };
  }
};

TEST(CniArgs, ParsesPairsAndRejectsMalformed) {
  auto a = ParseCniArgs("IgnoreUnknown=1;K8S_POD_NAME=x;;K8S_POD_NAMESPACE=y");
  ASSERT_OK(a);
  EXPECT_EQ((*a)["K8S_POD_NAME"], "x");
  EXPECT_EQ((*a)["K8S_POD_NAMESPACE"], "y");
  EXPECT_ERR(ParseCniArgs("novalue"));
  EXPECT_ERR(ParseCniArgs("=x"));
}

TEST(CniPlugin, AddEnrollsWithTheAgentAndPassesThePreviousResult) {
  FakeAgent agent;
  auto out = RunPlugin(Env("ADD"), kConfig, agent.Call());
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  ASSERT_EQ(agent.requests.size(), 1u);
  const auto& pod = agent.requests[0]["pod"];
  EXPECT_EQ(agent.requests[0]["op"], "add");
  EXPECT_EQ(pod["ip"], "198.18.1.7");
  EXPECT_EQ(pod["namespace"], "app");
  EXPECT_EQ(pod["name"], "web-0");
  EXPECT_EQ(pod["serviceAccount"], "web");
  EXPECT_EQ(pod["netns"], "/var/run/netns/p");
  EXPECT_EQ(json::parse(out.stdout_text)["ips"][0]["address"], "198.18.1.7/24");
}

TEST(CniPlugin, AddFailsClosedWhenTheAgentIsDownOrRefuses) {
  FakeAgent down;
  down.reply = MakeError("connect /run/agent.sock", ECONNREFUSED);
  auto out = RunPlugin(Env("ADD"), kConfig, down.Call());
  EXPECT_NE(out.exit_code, 0);
  EXPECT_EQ(json::parse(out.stdout_text)["code"], kErrAgentUnavailable);

  FakeAgent refusing;
  refusing.reply = std::string(R"({"ok":false,"error":"netns gone"})");
  out = RunPlugin(Env("ADD"), kConfig, refusing.Call());
  EXPECT_NE(out.exit_code, 0);
  auto err = json::parse(out.stdout_text);
  EXPECT_EQ(err["code"], kErrAgentRefused);
  EXPECT_EQ(err["details"], "netns gone");
}

TEST(CniPlugin, AddWithoutAnIpFromThePreviousPluginIsAnError) {
  FakeAgent agent;
  auto out = RunPlugin(Env("ADD"), R"({"cniVersion":"1.0.0","agentSocket":"/run/agent.sock"})", agent.Call());
  EXPECT_NE(out.exit_code, 0);
  EXPECT_TRUE(agent.requests.empty());
}

TEST(CniPlugin, DelAndCheckSucceedWhileTheAgentIsDown) {
  FakeAgent down;
  down.reply = MakeError("connect", ECONNREFUSED);
  EXPECT_EQ(RunPlugin(Env("DEL"), kConfig, down.Call()).exit_code, 0);
  EXPECT_EQ(RunPlugin(Env("DEL"), kConfig, down.Call()).exit_code, 0);
  EXPECT_EQ(RunPlugin(Env("CHECK"), kConfig, down.Call()).exit_code, 0);
}

TEST(CniPlugin, CheckFailsWhenTheAgentDoesNotKnowThePod) {
  FakeAgent agent;
  agent.reply = std::string(R"({"ok":true,"pods":[],"known":[{"namespace":"app","name":"other"}]})");
  EXPECT_NE(RunPlugin(Env("CHECK"), kConfig, agent.Call()).exit_code, 0);
  agent.reply = std::string(R"({"ok":true,"pods":[],"known":[{"namespace":"app","name":"web-0"}]})");
  EXPECT_EQ(RunPlugin(Env("CHECK"), kConfig, agent.Call()).exit_code, 0);
}

TEST(CniPlugin, VersionListsSupportedVersions) {
  auto out = RunPlugin(Env("VERSION"), "", FakeAgent{}.Call());
  EXPECT_EQ(out.exit_code, 0);
  EXPECT_EQ(json::parse(out.stdout_text)["supportedVersions"].size(), 2u);
}

}  // namespace
}  // namespace ferry::cni
