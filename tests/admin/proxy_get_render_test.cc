// `ferryctl proxy get`'s table and YAML renderings of the agent's answers.
#include <gtest/gtest.h>

#include "cli/proxy_get.h"

namespace ferry::cli {
namespace {

using nlohmann::json;

TEST(ProxyGetRenderTest, WorkloadsTableHasAHeaderAndOneAlignedRowPerPod) {
  json answer = {{"node", "node-1"},
                 {"workloads",
                  {{{"namespace", "shop"}, {"name", "api-0"}, {"ip", "198.18.1.2"}, {"serviceAccount", "api"}, {"enrolled", true}},
                   {{"namespace", "plain"}, {"name", "web-0"}, {"ip", "198.18.1.3"}, {"serviceAccount", "default"},
                    {"enrolled", false}}}}};
  std::string table = RenderTable("workloads", answer);
  EXPECT_EQ(table,
            "NAMESPACE   NAME    IP           SERVICE-ACCOUNT   ENROLLED\n"
            "shop        api-0   198.18.1.2   api               yes\n"
            "plain       web-0   198.18.1.3   default           no\n");
}

TEST(ProxyGetRenderTest, CertsTableShowsExpiryAsUtc) {
  json answer = {{"certificates",
                  {{{"workload", "shop/api"}, {"spiffeId", "spiffe://cluster.local/ns/shop/sa/api"}, {"serial", "0A"},
                    {"notAfter", 0}, {"serving", true}}}}};
  std::string table = RenderTable("certs", answer);
  EXPECT_NE(table.find("spiffe://cluster.local/ns/shop/sa/api"), std::string::npos);
  EXPECT_NE(table.find("1970-01-01T00:00:00Z"), std::string::npos);
}

TEST(ProxyGetRenderTest, ConnectionsTableNamesBothEndsAndTheTlsMode) {
  json answer = {{"connections",
                  {{{"source", "shop/frontend-0"}, {"destination", "shop/api-0"}, {"sourceIdentity", "shop/frontend"},
                    {"destinationIdentity", "shop/api"}, {"tlsMode", "userspace"}, {"bytesOut", 5}, {"bytesBack", 7},
                    {"ageMs", 2500}}}}};
  std::string table = RenderTable("connections", answer);
  EXPECT_EQ(table.rfind("SOURCE", 0), 0u);
  for (const char* cell : {"shop/frontend-0", "shop/api-0", "userspace", "2s"})
    EXPECT_NE(table.find(cell), std::string::npos) << cell;
}

TEST(ProxyGetRenderTest, EmptyAnswersStillPrintTheHeader) {
  EXPECT_EQ(RenderTable("connections", json::object()).rfind("SOURCE", 0), 0u);
  EXPECT_EQ(RenderTable("config_dump", json::object()).rfind("VERSION", 0), 0u);
}

TEST(ProxyGetRenderTest, YamlKeepsStringsQuotedAndNumbersPlain) {
  std::string yaml = RenderYaml({{"node", "node-1"}, {"version", 7}, {"serial", "0123"}, {"list", {1, 2}}});
  EXPECT_NE(yaml.find("node: \"node-1\""), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("version: 7"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("serial: \"0123\""), std::string::npos) << yaml;
}

}  // namespace
}  // namespace ferry::cli
