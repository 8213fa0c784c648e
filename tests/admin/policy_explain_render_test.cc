// What `ferryctl policy explain` prints for an agent's /explain answer (no cluster needed).
#include <gtest/gtest.h>

#include "cli/policy_explain.h"

namespace ferry::cli {
namespace {

using nlohmann::json;

json AllowAnswer() {
  return json{{"decision", "allow"},
              {"reason", "allowed by TrafficTarget shop/db-access rule TCPRoute db-ports"},
              {"trafficTarget", "shop/db-access"},
              {"rule", "TCPRoute db-ports"},
              {"source", {{"inMesh", true}, {"ip", "198.18.1.10"}, {"identity", "shop/frontend"}}},
              {"destination", {{"target", "service shop/db:5432"}, {"httpDeclared", false}}},
              {"verdicts", json::array({{{"decision", "allow"}, {"identity", "shop/db"}, {"endpoints", {"198.18.1.20:5432"}}}})},
              {"request", nullptr},
              {"policyVersion", 12},
              {"node", "node-1"}};
}

TEST(PolicyExplainRender, FirstLineIsTheDecisionThenTargetAndRule) {
  std::string text = RenderExplanation(AllowAnswer());
  EXPECT_EQ(text.substr(0, text.find('\n')), "allow: allowed by TrafficTarget shop/db-access rule TCPRoute db-ports");
  EXPECT_NE(text.find("traffic target:   shop/db-access"), std::string::npos) << text;
  EXPECT_NE(text.find("rule:             TCPRoute db-ports"), std::string::npos) << text;
  EXPECT_NE(text.find("shop/frontend (198.18.1.10)"), std::string::npos) << text;
  EXPECT_NE(text.find("the agent of node-1, policy version 12"), std::string::npos) << text;
  EXPECT_EQ(text.find("ENDPOINTS"), std::string::npos) << "one verdict needs no table";
}

TEST(PolicyExplainRender, SplitShowsOneRowPerBackendWithItsWeight) {
  json a = AllowAnswer();
  a["decision"] = "mixed";
  a["destination"]["trafficSplit"] = "shop/api-split";
  a["request"] = {{"method", "GET"}, {"path", "/api/values"}};
  a["verdicts"] = json::array({{{"decision", "allow"}, {"backend", "api-v1"}, {"weight", 90}, {"identity", "shop/api-v1"},
                                {"trafficTarget", "shop/api-v1"}, {"rule", "HTTPRouteGroup shop/api-routes match values"},
                                {"endpoints", {"198.18.1.40:8080"}}, {"reason", "ok"}},
                               {{"decision", "deny"}, {"backend", "api-v2"}, {"weight", 10}, {"identity", "shop/api-v2"},
                                {"endpoints", {"198.18.2.41:8080"}}, {"reason", "no TrafficTarget"}}});
  std::string text = RenderExplanation(a);
  EXPECT_EQ(text.rfind("mixed: ", 0), 0u) << text;
  EXPECT_NE(text.find("request:          GET /api/values"), std::string::npos) << text;
  EXPECT_NE(text.find("BACKEND"), std::string::npos) << text;
  EXPECT_NE(text.find("api-v1    90"), std::string::npos) << text;
  EXPECT_NE(text.find("api-v2    10"), std::string::npos) << text;
}

TEST(PolicyExplainRender, PercentEncodesQueryValues) {
  EXPECT_EQ(PercentEncode("shop/api"), "shop%2Fapi");
  EXPECT_EQ(PercentEncode("/a b?c=d&e"), "%2Fa%20b%3Fc%3Dd%26e");
  EXPECT_EQ(PercentEncode("x-user_1.~"), "x-user_1.~");
}

}  // namespace
}  // namespace ferry::cli
