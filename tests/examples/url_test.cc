// Command-line addresses of ferry-example-app: --url and --listen.
#include <gtest/gtest.h>

#include "examples/apps/url.h"
#include "test_result.h"

namespace ferry::example {
namespace {

TEST(ExampleUrl, ServiceNameWithDefaultPort) {
  auto t = ParseHttpUrl("http://api/api/values");
  ASSERT_OK(t);
  EXPECT_EQ(t->host, "api");
  EXPECT_EQ(t->port, 80);
  EXPECT_EQ(t->path, "/api/values");
  EXPECT_EQ(t->HostHeader(), "api");
}

TEST(ExampleUrl, PortQueryAndQualifiedName) {
  auto t = ParseHttpUrl("http://api.canary-app.svc.cluster.local:8080/api/values?n=1");
  ASSERT_OK(t);
  EXPECT_EQ(t->host, "api.canary-app.svc.cluster.local");
  EXPECT_EQ(t->port, 8080);
  EXPECT_EQ(t->path, "/api/values?n=1");
  EXPECT_EQ(t->HostHeader(), "api.canary-app.svc.cluster.local:8080");
}

TEST(ExampleUrl, NoPathMeansRoot) {
  auto t = ParseHttpUrl("http://127.0.0.1:9000");
  ASSERT_OK(t);
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->path, "/");
}

TEST(ExampleUrl, RefusesWhatItCannotFetch) {
  EXPECT_ERR(ParseHttpUrl("https://api/api/values"));  // TLS is the mesh's job
  EXPECT_ERR(ParseHttpUrl("api/api/values"));
  EXPECT_ERR(ParseHttpUrl("http://api:0/"));
  EXPECT_ERR(ParseHttpUrl(""));
}

TEST(ExampleListen, HostPortForms) {
  auto a = ParseListenAddress("0.0.0.0:8080");
  ASSERT_OK(a);
  EXPECT_EQ(a->host, "0.0.0.0");
  EXPECT_EQ(a->port, 8080);
  auto b = ParseListenAddress(":9000");
  ASSERT_OK(b);
  EXPECT_EQ(b->host, "0.0.0.0");
  EXPECT_EQ(b->port, 9000);
  auto c = ParseListenAddress("127.0.0.1:0");
  ASSERT_OK(c);
  EXPECT_EQ(c->port, 0);
  EXPECT_ERR(ParseListenAddress("127.0.0.1:http"));
  EXPECT_ERR(ParseListenAddress("127.0.0.1:70000"));
}

}  // namespace
}  // namespace ferry::example
