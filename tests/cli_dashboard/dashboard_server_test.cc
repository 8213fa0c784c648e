// The dashboard's web server over loopback, fed by a fake reader: the page and /api/graph.
#include "cli/dashboard_server.h"

#include <gtest/gtest.h>

#include "admin/admin_test_client.h"
#include "cli/dashboard.h"
#include "cli/dashboard_page.h"
#include "test_result.h"

namespace ferry::cli {
namespace {

using nlohmann::json;
using admin::testing::Body;
using admin::testing::Get;
using admin::testing::StatusLine;

class FakeReader : public MeshReader {
 public:
  explicit FakeReader(int* requests) : requests_(requests) {}
  std::vector<NodeScrape> ScrapeMetrics() override {
    *requests_ += 7;
    std::string text = "ferry_requests_total{reporter=\"source\",source_workload=\"web\",source_namespace=\"shop\","
                       "destination_workload=\"cart\",destination_namespace=\"shop\",response_code=\"200\"} " +
                       std::to_string(*requests_) + "\n";
    return {{"node-1", text, ""}, {"node-2", "", "no answer"}};
  }
  Result<json> ConfigDump() override { return MakeError("not in this test"); }

 private:
  int* requests_;
};

class DashboardServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = DashboardServer::Start({Ipv4Endpoint{0x7f000001, 0}, std::chrono::milliseconds(1500)},
                                         std::make_unique<FakeReader>(&requests_));
    ASSERT_OK(server);
    server_ = std::move(*server);
  }
  int requests_ = 0;
  std::unique_ptr<DashboardServer> server_;
};

TEST_F(DashboardServerTest, ApiGraphServesTheLatestRefresh) {
  auto empty = json::parse(Body(Get(server_->local_endpoint(), "/api/graph")), nullptr, false);
  ASSERT_TRUE(empty.is_object());
  EXPECT_TRUE(empty["edges"].empty()) << "before the first refresh";

  server_->Refresh();
  server_->Refresh();
  std::string response = Get(server_->local_endpoint(), "/api/graph");
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 200 OK");
  auto graph = json::parse(Body(response), nullptr, false);
  ASSERT_TRUE(graph.is_object()) << response;
  ASSERT_EQ(graph["edges"].size(), 1u) << graph.dump(2);
  EXPECT_EQ(graph["edges"][0]["source"], "shop/web");
  EXPECT_EQ(graph["edges"][0]["target"], "shop/cart");
  EXPECT_EQ(graph["edges"][0]["requests"], 14);
  EXPECT_FALSE(graph["edges"][0]["rps"].is_null());
  EXPECT_EQ(graph["intervalMs"], 1500);
  EXPECT_EQ(graph["scrapes"][1]["ok"], false);
  EXPECT_NE(graph["configDumpError"].get<std::string>().find("not in this test"), std::string::npos);
}

TEST_F(DashboardServerTest, PageIsSelfContainedAndCarriesTheCurrentGraph) {
  server_->Refresh();
  std::string response = Get(server_->local_endpoint(), "/");
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 200 OK");
  EXPECT_NE(response.find("Content-Type: text/html"), std::string::npos) << response.substr(0, 300);
  std::string page = Body(response);
  EXPECT_NE(page.find("createElementNS"), std::string::npos) << "the graph is drawn as inline SVG";
  EXPECT_NE(page.find("fetch(\"/api/graph\""), std::string::npos);
  EXPECT_NE(page.find("const INTERVAL_MS = 1500;"), std::string::npos);
  EXPECT_NE(page.find("\"shop/cart\""), std::string::npos) << "the first graph is inlined";
  // Nothing is loaded from elsewhere: an operator's browser may have no internet access.
  for (const char* external : {"<script src", "<link", "@import", "https://", "url(http"})
    EXPECT_EQ(page.find(external), std::string::npos) << external;
}

TEST(DashboardPage, NamesCannotCloseTheInlineScript) {
  json graph = {{"nodes", {{{"id", "x/</script><b>"}}}}};
  std::string page = DashboardPageHtml(graph, 2000);
  EXPECT_EQ(page.find("</script><b>"), std::string::npos);
  EXPECT_NE(page.find("x/\\u003c/script>\\u003cb>"), std::string::npos);
}

TEST(DashboardCommand, IntervalsParse) {
  EXPECT_EQ(ParseInterval("2s").value(), std::chrono::milliseconds(2000));
  EXPECT_EQ(ParseInterval("500ms").value(), std::chrono::milliseconds(500));
  EXPECT_EQ(ParseInterval("1m").value(), std::chrono::milliseconds(60000));
  EXPECT_EQ(ParseInterval("3").value(), std::chrono::milliseconds(3000));
  EXPECT_EQ(ParseInterval("1.5s").value(), std::chrono::milliseconds(1500));
  for (const char* bad : {"", "s", "0s", "10ms", "2h", "-1s", "abc"}) EXPECT_FALSE(ParseInterval(bad).ok()) << bad;
}

}  // namespace
}  // namespace ferry::cli
