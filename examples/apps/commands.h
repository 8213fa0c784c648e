// The three subcommands of ferry-example-app; each returns the process exit code.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ferry::example {

struct ApiOptions {
  std::string listen = "0.0.0.0:8080";
  std::string values;  // JSON; empty = $VALUES, else the walkthrough's default
};

struct FrontendOptions {
  std::string listen = "0.0.0.0:8080";
  std::string api_url = "http://api/api/values";
  std::string ns;  // for the page title; empty = $POD_NAMESPACE
  int connect_timeout_ms = 3000;
  int timeout_ms = 5000;
};

struct ClientOptions {
  std::string url;
  int count = 1;
  std::string method = "GET";
  int connect_timeout_ms = 3000;
  int timeout_ms = 5000;
  std::vector<std::string> paths;    // request paths in turn (empty: the URL's path)
  std::vector<std::string> methods;  // methods in turn (empty: `method`)
  int interval_ms = 0;               // pause between requests
  int tail = 0;                      // the last `tail` requests' bodies are also counted apart
  bool print_body = false;           // print each response body before the JSON line
};

int RunApi(const ApiOptions& options);
int RunFrontend(const FrontendOptions& options);
int RunClient(const ClientOptions& options);

}  // namespace ferry::example
