// Node tokens, certificate TTL flags and the issuance rule, without a server.
#include <gtest/gtest.h>

#include "controlplane/server/controller_ca.h"
#include "controlplane/server/node_auth.h"
#include "controlplane/server/workload_placement.h"
#include "test_result.h"

namespace ferry::controlplane {
namespace {

using namespace std::chrono_literals;  // NOLINT

TEST(NodeTokens, ParsesNodesAndRefusesAmbiguousOrEmptyTokens) {
  Result<NodeTokens> tokens = ParseNodeTokens(R"({"node-1": "aaa", "node-2": "bbb"})", "t.json");
  ASSERT_OK(tokens);
  EXPECT_EQ(tokens->at("node-2"), "bbb");
  EXPECT_ERR(ParseNodeTokens(R"({"node-1": "same", "node-2": "same"})", "t.json"));
  EXPECT_ERR(ParseNodeTokens(R"({"node-1": ""})", "t.json"));
  EXPECT_ERR(ParseNodeTokens(R"({"node-1": 5})", "t.json"));
  EXPECT_ERR(ParseNodeTokens(R"({})", "t.json"));
  EXPECT_ERR(ParseNodeTokens(R"(["node-1"])", "t.json"));
  EXPECT_ERR(ParseNodeTokens("not json", "t.json"));
}

TEST(NodeAuthenticator, NamesTheNodeOfABearerTokenOnly) {
  NodeAuthenticator auth(NodeTokens{{"node-1", "secret-one"}, {"node-2", "secret-two"}});
  EXPECT_EQ(auth.NodeForAuthorization("Bearer secret-two"), "node-2");
  EXPECT_EQ(auth.NodeForToken("secret-one"), "node-1");
  EXPECT_FALSE(auth.NodeForAuthorization("secret-one"));         // no scheme
  EXPECT_FALSE(auth.NodeForAuthorization("Basic secret-one"));   // another scheme
  EXPECT_FALSE(auth.NodeForAuthorization("Bearer secret-on"));   // a prefix of a token
  EXPECT_FALSE(auth.NodeForAuthorization("Bearer secret-one "));  // trailing bytes
  EXPECT_FALSE(auth.NodeForAuthorization("Bearer "));
  EXPECT_FALSE(auth.NodeForToken(""));
}

TEST(CertTtl, AcceptsSecondsMinutesHoursAndDays) {
  EXPECT_EQ(ParseDuration("120s").value(), 120s);
  EXPECT_EQ(ParseDuration("2m").value(), 120s);
  EXPECT_EQ(ParseDuration("24h").value(), 86400s);
  EXPECT_EQ(ParseDuration("1d").value(), 86400s);
  for (const char* bad : {"", "24", "h", "0s", "-5s", "1.5h", "5x", "10 s", "99999999999999999999h"}) {
    EXPECT_ERR(ParseDuration(bad)) << bad;
  }
}

TEST(WorkloadPlacement, AllowsOnlyTheNodesRunningTheServiceAccount) {
  WorkloadInventory inventory;
  v1::Workload api;
  api.set_namespace_("shop");
  api.set_service_account("api");
  api.set_node("node-1");
  inventory.workloads.push_back(api);
  v1::Workload unscheduled = api;
  unscheduled.set_service_account("batch");
  unscheduled.clear_node();
  inventory.workloads.push_back(unscheduled);
  WorkloadPlacement placement(inventory);
  auto id = [](const char* ns, const char* sa) { return identity::SpiffeId::Make("cluster.local", ns, sa).value(); };
  EXPECT_OK(placement.Authorize("node-1", id("shop", "api")));
  EXPECT_ERR(placement.Authorize("node-2", id("shop", "api")));
  EXPECT_ERR(placement.Authorize("node-1", id("other", "api")));  // same name, other namespace
  EXPECT_ERR(placement.Authorize("node-1", id("shop", "batch")));  // no node yet
  EXPECT_ERR(placement.Authorize("", id("shop", "api")));
}

}  // namespace
}  // namespace ferry::controlplane
