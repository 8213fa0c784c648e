// The `frontend` service: a page that shows what api answered for this very page load. It keeps
// one keep-alive connection to api for all page loads, so with a TrafficSplit (split per HTTP
// request) each refresh can come from a different api version.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "examples/apps/http_server.h"
#include "examples/apps/keepalive_client.h"
#include "examples/apps/pod_identity.h"

namespace ferry::example {

struct ApiOutcome {
  std::optional<HttpMessage> response;  // set when api (or the mesh in front of it) answered
  std::string error;                    // why nothing came back, otherwise
  int api_connections = 0;              // connections opened to api so far
};

std::string HtmlEscape(std::string_view text);

// The HTML page for one outcome; `api_url` is shown so a reader knows what was asked.
std::string RenderFrontendPage(const PodIdentity& me, const std::string& api_url, const ApiOutcome& outcome);

class FrontendApp {
 public:
  FrontendApp(PodIdentity me, std::string api_url, HttpTarget api, ConnectTimeouts timeouts)
      : me_(std::move(me)), api_url_(std::move(api_url)), client_(std::move(api), timeouts) {}

  // GET / → the page; /api/values → api's answer passed on (status, body) for scripts.
  Reply Handle(const HttpMessage& request);

 private:
  ApiOutcome FetchValues();

  PodIdentity me_;
  std::string api_url_;
  std::mutex mu_;  // one connection, one request on it at a time
  KeepAliveClient client_;
};

}  // namespace ferry::example
