// ferryctl's output forms: `proxy get`'s tables of the agent's answers, and the -o
// table|json|yaml choice every verb makes through PrintAs.
#include <gtest/gtest.h>

#include <sstream>

#include "cli/operator_commands.h"
#include "cli/proxy_get.h"
#include "cli/render.h"

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

TEST(PrintAsTest, OneDocumentThreeFormsWithTheSameData) {
  json rows = json::array({{{"name", "shop"}, {"inMesh", true}, {"pods", 3}}, {{"name", "plain"}, {"inMesh", false}, {"pods", 0}}});
  json doc = {{"namespaces", rows}};
  std::vector<Column> columns = {{"NAME", "name"}, {"IN-MESH", "inMesh"}, {"PODS", "pods"}, {"MESH", "mesh"}};
  std::ostringstream table, as_json, yaml;
  ASSERT_TRUE(PrintAs("table", doc, rows, columns, table));
  EXPECT_EQ(table.str(),
            "NAME    IN-MESH   PODS   MESH\n"
            "shop    yes       3      -\n"
            "plain   no        0      -\n");
  ASSERT_TRUE(PrintAs("json", doc, rows, columns, as_json));
  EXPECT_EQ(json::parse(as_json.str()), doc);
  ASSERT_TRUE(PrintAs("yaml", doc, rows, columns, yaml));
  EXPECT_NE(yaml.str().find("name: \"shop\""), std::string::npos) << yaml.str();
  std::ostringstream other;
  EXPECT_FALSE(PrintAs("xml", doc, rows, columns, other));
  EXPECT_TRUE(other.str().empty());
}

TEST(VersionTest, NamesTheBuildAndTheCommit) {
  json v = VersionJson()["client"];
  EXPECT_EQ(v["version"], "0.1.0");
  EXPECT_FALSE(v["commit"].get<std::string>().empty());
}

}  // namespace
}  // namespace ferry::cli
