// A small HTTP/1.1 server for the agent's operator endpoints (debug, readiness, metrics): GET only,
// one request per connection (answered with Connection: close), JSON or text bodies. One thread
// polls the listener and every open connection, so a slow or silent client costs a slot, not a
// thread: slots are capped, requests are bounded in size and a connection that has not sent a
// complete request within the idle timeout is closed.
//
// Requests are framed by the proxy's socket-free RequestReader (the same rules as user traffic);
// handlers run on the server thread and must be quick and thread-safe with the rest of the agent.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "common/ipv4.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace ferry::admin {

struct AdminRequest {
  std::string path;                          // without the query, percent-decoded
  std::map<std::string, std::string> query;  // ?a=b&c → {a: b, c: ""}, percent-decoded
};

struct AdminResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;

  // {"error": reason} with `status`: every refusal says why.
  static AdminResponse Error(int status, const std::string& reason);
  static AdminResponse Text(std::string body, std::string content_type = "text/plain; charset=utf-8");
};

using AdminHandler = std::function<AdminResponse(const AdminRequest&)>;
// Exact paths ("/config_dump"). Anything else is a 404 that lists the known paths.
using AdminRoutes = std::map<std::string, AdminHandler>;

struct AdminServerOptions {
  Ipv4Endpoint listen;   // port 0 = a free port (tests)
  std::string name = "admin";  // for logs
  size_t max_request_bytes = 8 * 1024;  // a longer request head is answered 431
  size_t max_connections = 32;          // more are accepted and closed at once
  std::chrono::milliseconds idle_timeout{5000};
};

// Splits "/p%41th?a=1&b" into path and query; false when the percent-encoding is invalid.
bool ParseRequestTarget(const std::string& target, AdminRequest& out);

class AdminServer {
 public:
  // Binds and listens on exactly options.listen, then serves on its own thread until destroyed.
  static Result<std::unique_ptr<AdminServer>> Start(AdminServerOptions options, AdminRoutes routes);
  ~AdminServer();  // stops and joins
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  Ipv4Endpoint local_endpoint() const { return local_; }

 private:
  class Loop;
  AdminServer(Ipv4Endpoint local, UniqueFd stop_event, std::unique_ptr<Loop> loop);

  Ipv4Endpoint local_;
  UniqueFd stop_event_;  // an eventfd: readable once stopping
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
};

}  // namespace ferry::admin
