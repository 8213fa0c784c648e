#include "agent/admin/admin_server.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "admin_test_client.h"
#include "test_result.h"

namespace ferry::admin {
namespace {

using namespace ferry::admin::testing;
using nlohmann::json;

constexpr uint32_t kLoopbackAddr = 0x7f000001;

class AdminServerTest : public ::testing::Test {
 protected:
  void Start(AdminServerOptions options = {}) {
    options.listen = Ipv4Endpoint{kLoopbackAddr, 0};
    AdminRoutes routes;
    routes["/hello"] = [](const AdminRequest&) { return AdminResponse::Text("hello\n"); };
    routes["/echo"] = [](const AdminRequest& r) {
      return AdminResponse{200, "application/json", json{{"path", r.path}, {"query", r.query}}.dump()};
    };
    routes["/broken"] = [](const AdminRequest&) -> AdminResponse { throw std::runtime_error("boom"); };
    auto server = AdminServer::Start(options, std::move(routes));
    ASSERT_OK(server);
    server_ = std::move(server).value();
  }
  Ipv4Endpoint endpoint() const { return server_->local_endpoint(); }

  std::unique_ptr<AdminServer> server_;
};

TEST_F(AdminServerTest, BindsOnlyWhereTold) {
  Start();
  EXPECT_EQ(endpoint().addr, kLoopbackAddr);
  EXPECT_NE(endpoint().port, 0);
}

TEST_F(AdminServerTest, RoutesByExactPathAndClosesAfterTheAnswer) {
  Start();
  std::string response = Get(endpoint(), "/hello");
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 200 OK");
  EXPECT_NE(response.find("Content-Length: 6\r\n"), std::string::npos);
  EXPECT_NE(response.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(Body(response), "hello\n");
}

TEST_F(AdminServerTest, PassesTheDecodedQueryToTheHandler) {
  Start();
  json body = json::parse(Body(Get(endpoint(), "/echo?level=debug&name=a%2Fb+c&flag")));
  EXPECT_EQ(body["path"], "/echo");
  EXPECT_EQ(body["query"]["level"], "debug");
  EXPECT_EQ(body["query"]["name"], "a/b c");
  EXPECT_EQ(body["query"]["flag"], "");
}

TEST_F(AdminServerTest, UnknownPathIs404NamingTheKnownOnes) {
  Start();
  std::string response = Get(endpoint(), "/nope");
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 404 Not Found");
  std::string error = json::parse(Body(response))["error"];
  EXPECT_NE(error.find("/nope"), std::string::npos);
  EXPECT_NE(error.find("/hello"), std::string::npos);
  // A path prefix is not a match.
  EXPECT_EQ(StatusLine(Get(endpoint(), "/hello/x")), "HTTP/1.1 404 Not Found");
}

TEST_F(AdminServerTest, OnlyGetIsServed) {
  Start();
  for (std::string method : {"POST", "PUT", "DELETE", "HEAD"}) {
    std::string response =
        Exchange(endpoint(), method + " /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(StatusLine(response), "HTTP/1.1 405 Method Not Allowed") << method;
    EXPECT_NE(response.find("Allow: GET\r\n"), std::string::npos) << method;
    if (method != "HEAD") {
      EXPECT_NE(Body(response).find(method), std::string::npos) << method;
    }
  }
}

TEST_F(AdminServerTest, GetWithABodyIsRefused) {
  Start();
  std::string response = Exchange(endpoint(), "GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 400 Bad Request");
}

TEST_F(AdminServerTest, MalformedRequestsAre400) {
  Start();
  EXPECT_EQ(StatusLine(Exchange(endpoint(), "GARBAGE\r\n\r\n")).substr(0, 12), "HTTP/1.1 400");
  EXPECT_EQ(StatusLine(Exchange(endpoint(), "GET /hello HTTP/1.1\r\nBad Header\r\n\r\n")).substr(0, 12), "HTTP/1.1 400");
  EXPECT_EQ(StatusLine(Get(endpoint(), "/echo?x=%zz")), "HTTP/1.1 400 Bad Request");
}

TEST_F(AdminServerTest, OversizedRequestIsAnswered431) {
  AdminServerOptions options;
  options.max_request_bytes = 1024;
  Start(options);
  std::string request = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n";
  EXPECT_EQ(StatusLine(Exchange(endpoint(), request)), "HTTP/1.1 431 Request Header Fields Too Large");
  // Still serving afterwards.
  EXPECT_EQ(StatusLine(Get(endpoint(), "/hello")), "HTTP/1.1 200 OK");
}

TEST_F(AdminServerTest, ARequestArrivingInPiecesIsServed) {
  Start();
  UniqueFd fd = ConnectTo(endpoint());
  ASSERT_TRUE(fd);
  SendAll(fd.get(), "GET /hel");
  SendAll(fd.get(), "lo HTTP/1.1\r\nHo");
  SendAll(fd.get(), "st: x\r\n\r\n");
  EXPECT_EQ(Body(ReadToEnd(fd.get())), "hello\n");
}

TEST_F(AdminServerTest, SilentClientGets408AfterTheIdleTimeout) {
  AdminServerOptions options;
  options.idle_timeout = std::chrono::milliseconds(200);
  Start(options);
  UniqueFd fd = ConnectTo(endpoint());
  ASSERT_TRUE(fd);
  SendAll(fd.get(), "GET /hello HTTP/1.1\r\n");  // never finished
  EXPECT_EQ(StatusLine(ReadToEnd(fd.get())), "HTTP/1.1 408 Request Timeout");
}

TEST_F(AdminServerTest, ConnectionsOverTheCapAreClosedAndOthersStillServed) {
  AdminServerOptions options;
  options.max_connections = 1;
  Start(options);
  UniqueFd holder = ConnectTo(endpoint());
  ASSERT_TRUE(holder);
  SendAll(holder.get(), "GET /hello HTTP/1.1\r\n");  // occupies the only slot
  // Accepted in order, so this one finds the slot taken and is closed unanswered.
  std::string refused = Get(endpoint(), "/hello");
  EXPECT_EQ(refused, "");
  SendAll(holder.get(), "Host: x\r\n\r\n");
  EXPECT_EQ(Body(ReadToEnd(holder.get())), "hello\n");
  holder = UniqueFd();
  EXPECT_EQ(StatusLine(Get(endpoint(), "/hello")), "HTTP/1.1 200 OK");
}

TEST_F(AdminServerTest, AThrowingHandlerIs500AndTheServerLives) {
  Start();
  std::string response = Get(endpoint(), "/broken");
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 500 Internal Server Error");
  EXPECT_NE(Body(response).find("boom"), std::string::npos);
  EXPECT_EQ(StatusLine(Get(endpoint(), "/hello")), "HTTP/1.1 200 OK");
}

TEST_F(AdminServerTest, StoppingClosesOpenConnections) {
  Start();
  UniqueFd fd = ConnectTo(endpoint());
  ASSERT_TRUE(fd);
  SendAll(fd.get(), "GET /hello HTTP/1.1\r\n");
  server_.reset();
  EXPECT_EQ(ReadToEnd(fd.get()), "");
}

TEST_F(AdminServerTest, AnAddressInUseFailsToStart) {
  Start();
  AdminServerOptions options;
  options.listen = endpoint();
  auto second = AdminServer::Start(options, {});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().Message().find(endpoint().ToString()), std::string::npos);
}

TEST(ParseRequestTargetTest, SplitsAndDecodes) {
  AdminRequest r;
  ASSERT_TRUE(ParseRequestTarget("/a%20b?x=1&&y=%41&z", r));
  EXPECT_EQ(r.path, "/a b");
  EXPECT_EQ(r.query, (std::map<std::string, std::string>{{"x", "1"}, {"y", "A"}, {"z", ""}}));
  EXPECT_FALSE(ParseRequestTarget("/a%2", r));
  EXPECT_FALSE(ParseRequestTarget("/a?x=%g0", r));
}

}  // namespace
}  // namespace ferry::admin
