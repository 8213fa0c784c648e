// What the sample apps answer: api's values and admin area, the frontend's page, the client's report.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "examples/apps/api_app.h"
#include "examples/apps/client_report.h"
#include "examples/apps/frontend_app.h"
#include "test_result.h"

namespace ferry::example {
namespace {

HttpMessage Request(const std::string& method, const std::string& target) {
  HttpMessage m;
  m.method = method;
  m.target = target;
  return m;
}

TEST(ExampleApi, ValuesAreNormalisedJson) {
  auto v = NormaliseValues(R"([ "Value 4", "Value 5",  "Value 6" ])");
  ASSERT_OK(v);
  EXPECT_EQ(*v, R"(["Value 4","Value 5","Value 6"])");
  EXPECT_ERR(NormaliseValues("Value 1, Value 2"));
  auto d = NormaliseValues(kDefaultValues);
  ASSERT_OK(d);
  EXPECT_EQ(*d, R"(["Value 1","Value 2","Value 3"])");
}

TEST(ExampleApi, ValuesForAnyMethodAndAnAdminAreaEverywhereElse) {
  ApiApp app(R"(["Value 1","Value 2","Value 3"])", PodIdentity{"api-v1-0", "canary-app"});
  for (const char* method : {"GET", "POST", "DELETE"}) {
    Reply r = app.Handle(Request(method, "/api/values?n=2"));
    EXPECT_EQ(r.status, 200) << method;
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.body, R"(["Value 1","Value 2","Value 3"])");
  }
  Reply admin = app.Handle(Request("GET", "/admin"));
  EXPECT_EQ(admin.status, 200) << "a 403 seen by a client must come from the mesh, not the app";
  EXPECT_EQ(admin.body, "admin area of api-v1-0");
  // The values path is matched exactly, like the walkthrough's pathRegex.
  EXPECT_EQ(app.Handle(Request("GET", "/api/values/1")).body, "admin area of api-v1-0");
  bool served_by = false;
  for (const auto& [name, value] : admin.headers) served_by |= name == "x-served-by" && value == "api-v1-0";
  EXPECT_TRUE(served_by);
}

TEST(ExampleFrontend, PageListsTheValuesAndWhoServedThem) {
  ApiOutcome outcome;
  outcome.response = HttpMessage{};
  outcome.response->status = 200;
  outcome.response->body = R"(["Value 4","Value 5","Value 6"])";
  outcome.response->headers = {{"x-served-by", "api-v2-0"}};
  outcome.api_connections = 1;
  std::string page = RenderFrontendPage(PodIdentity{"frontend-0", "canary-app"}, "http://api/api/values", outcome);
  EXPECT_NE(page.find("<title>canary-app/frontend-0</title>"), std::string::npos);
  EXPECT_NE(page.find("<li>Value 4</li><li>Value 5</li><li>Value 6</li>"), std::string::npos);
  EXPECT_NE(page.find("api-v2-0"), std::string::npos);
  EXPECT_NE(page.find("Connections opened to api: 1"), std::string::npos);
}

TEST(ExampleFrontend, PageShowsTheMeshRefusalOrTheFailureEscaped) {
  ApiOutcome denied;
  denied.response = HttpMessage{};
  denied.response->status = 403;
  denied.response->body = "RBAC: <access denied>";
  std::string page = RenderFrontendPage(PodIdentity{"frontend-0", ""}, "http://api/api/values", denied);
  EXPECT_NE(page.find("<title>frontend-0</title>"), std::string::npos);
  EXPECT_NE(page.find("api answered 403: RBAC: &lt;access denied&gt;"), std::string::npos);
  EXPECT_EQ(page.find("<access"), std::string::npos);

  ApiOutcome unreachable;
  unreachable.error = "connect api:80: Connection refused";
  page = RenderFrontendPage(PodIdentity{"frontend-0", "simple-app"}, "http://api/api/values", unreachable);
  EXPECT_NE(page.find("api unreachable: connect api:80: Connection refused"), std::string::npos);
}

TEST(ExampleFrontend, HtmlEscapeCoversMarkupAndQuotes) {
  EXPECT_EQ(HtmlEscape(R"(<a href="x">'&'</a>)"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

TEST(ExampleClientReport, CountsStatusesBodiesAndErrors) {
  ClientReport report;
  report.AddResponse(200, R"(["Value 1"])");
  report.AddResponse(200, R"(["Value 1"])");
  report.AddResponse(200, R"(["Value 4"])");
  report.AddResponse(403, std::string(500, 'd'));
  report.SetConnections(2);
  EXPECT_TRUE(report.AllAnswered());
  nlohmann::json j = report.ToJson();
  EXPECT_EQ(j["requests"], 4);
  EXPECT_EQ(j["connections"], 2);
  EXPECT_EQ(j["status"]["200"], 3);
  EXPECT_EQ(j["status"]["403"], 1);
  EXPECT_EQ(j["bodies"][R"(["Value 1"])"], 2);
  EXPECT_EQ(j["bodies"][R"(["Value 4"])"], 1);
  EXPECT_EQ(j["bodies"][std::string(ClientReport::kMaxBodyKey, 'd')], 1) << "long bodies are cut to 200 chars";
  EXPECT_EQ(j["errors"], 0);

  report.AddError("connect api:80: Connection refused");
  EXPECT_FALSE(report.AllAnswered());
  j = report.ToJson();
  EXPECT_EQ(j["requests"], 5);
  EXPECT_EQ(j["errors"], 1);
  EXPECT_EQ(j["last_error"], "connect api:80: Connection refused");
}

TEST(ExampleClientReport, BodiesThatAreNotUtf8StillMakeAJsonLine) {
  ClientReport report;
  report.AddResponse(200, std::string(199, 'a') + "\xc3\xa9");  // cut inside the two-byte character
  report.AddResponse(200, "\xff\xfe");
  nlohmann::json j = nlohmann::json::parse(report.ToJsonLine(), nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["bodies"].size(), 2u);
  EXPECT_EQ(j["status"]["200"], 2);
}

TEST(ExampleClientReport, EmptyMapsStayJsonObjects) {
  ClientReport report;
  report.AddError("refused");
  std::string line = report.ToJsonLine();
  EXPECT_NE(line.find(R"("status":{})"), std::string::npos);
  EXPECT_NE(line.find(R"("bodies":{})"), std::string::npos);
}

}  // namespace
}  // namespace ferry::example
