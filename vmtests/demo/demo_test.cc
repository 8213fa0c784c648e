// ./scripts/demo.sh --down, run as a user would (with this build's binaries), and its printed
// counts re-parsed: the walkthrough must show the deny, the allow with 403s on other paths, and a
// canary share that a 90/10 split can produce.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <regex>
#include <string>

#include "local/process.h"
#include "privileged.h"

namespace ferry::vmtest {
namespace {

int Capture(const std::string& text, const std::string& pattern) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(pattern)) || m.size() < 2) return -1;
  return std::stoi(m[1].str());
}

TEST(DemoScript, WalksTheGettingStartedStoryAndCountsWhatItSaw) {
  FERRY_REQUIRE_PRIVILEGED();
  std::string state = "/tmp/ferry-demo-test-" + std::to_string(getpid());
  local::SpawnOptions o;
  o.argv = {"/bin/bash", std::string(FERRY_SOURCE_DIR) + "/scripts/demo.sh", "--down", "--state", state,
            "--build-dir", FERRY_BUILD_DIR};
  auto run = local::RunCommand(o, std::chrono::seconds(400));
  // Whatever happened, no cluster is left behind.
  if (access((state + "/cluster.json").c_str(), F_OK) == 0) {
    local::SpawnOptions down;
    down.argv = {std::string(FERRY_BUILD_DIR) + "/cli/ferryctl", "local", "down", "--state", state};
    (void)local::RunCommand(down, std::chrono::seconds(120));
    ADD_FAILURE() << "demo.sh --down left the cluster up";
  }
  std::error_code ec;
  std::filesystem::remove_all(state, ec);
  ASSERT_TRUE(run.ok()) << run.error().Message();
  const std::string& out = run->output;
  std::cerr << out << run->errors;
  EXPECT_EQ(run->exit_code, 0);
  // Step 1: refused (no 200); step 2: values, then 5 of each path on one connection.
  EXPECT_NE(out.find("step 1"), std::string::npos);
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(step 1[^\n]*\n\s+observed: 1 request -> no response)"))) << out;
  EXPECT_EQ(Capture(out, R"(step 2[\s\S]*?observed: 1 request -> 200 x(\d+))"), 1) << out;
  EXPECT_EQ(Capture(out, R"(GET /api/values -> 200 x(\d+))"), 5) << out;
  EXPECT_EQ(Capture(out, R"(GET /admin -> 403 x(\d+))"), 5) << out;
  EXPECT_EQ(Capture(out, R"(GET /admin -> 403 x\d+ \(connections: (\d+)\))"), 1) << out;
  int v1 = Capture(out, R"(api-v1 answered (\d+))"), v2 = Capture(out, R"(api-v2 answered (\d+))");
  EXPECT_EQ(v1 + v2, 200) << out;
  EXPECT_LE(std::abs(v2 - 20), 3.29 * std::sqrt(200 * 0.1 * 0.9)) << "v2 " << v2;
  EXPECT_EQ(Capture(out, R"(over 200 requests on (\d+) keep-alive)"), 1) << out;
}

}  // namespace
}  // namespace ferry::vmtest
