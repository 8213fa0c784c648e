// ferry-example-app: the sample applications of Ferry's getting-started walkthrough.
//   api       serves its values at /api/values (and an "admin area" everywhere else)
//   frontend  a page showing the values api gave it for this page load
//   client    N requests on one keep-alive connection, summarised as one JSON line
#include <CLI/CLI.hpp>

#include "examples/apps/commands.h"

int main(int argc, char** argv) {
  using namespace ferry::example;
  CLI::App app{"Ferry's sample apps: frontend -> api, for the getting-started walkthrough"};
  app.require_subcommand(1);

  ApiOptions api;
  auto* api_cmd = app.add_subcommand("api", "serve values at /api/values");
  api_cmd->add_option("--listen", api.listen, "HOST:PORT to listen on")->capture_default_str();
  api_cmd->add_option("--values", api.values, "JSON to serve (default: $VALUES, else [\"Value 1\",\"Value 2\",\"Value 3\"])");

  FrontendOptions frontend;
  auto* fe_cmd = app.add_subcommand("frontend", "a page showing api's values");
  fe_cmd->add_option("--listen", frontend.listen, "HOST:PORT to listen on")->capture_default_str();
  fe_cmd->add_option("--api", frontend.api_url, "api's values URL")->capture_default_str();
  fe_cmd->add_option("--namespace", frontend.ns, "namespace shown in the title (default: $POD_NAMESPACE)");
  fe_cmd->add_option("--connect-timeout-ms", frontend.connect_timeout_ms)->capture_default_str();
  fe_cmd->add_option("--timeout-ms", frontend.timeout_ms, "per send/receive")->capture_default_str();

  ClientOptions client;
  auto* client_cmd = app.add_subcommand("client", "N requests on one keep-alive connection, one JSON line out");
  client_cmd->add_option("--url", client.url, "http://HOST[:PORT]/PATH")->required();
  client_cmd->add_option("--count", client.count, "number of requests")->capture_default_str()->check(CLI::PositiveNumber);
  client_cmd->add_option("--method", client.method)->capture_default_str();
  client_cmd->add_option("--connect-timeout-ms", client.connect_timeout_ms)->capture_default_str();
  client_cmd->add_option("--timeout-ms", client.timeout_ms, "per send/receive")->capture_default_str();
  client_cmd->add_option("--paths", client.paths, "request paths, in turn (default: the URL's)")->delimiter(',');
  client_cmd->add_option("--methods", client.methods, "methods, in turn (default: --method)")->delimiter(',');
  client_cmd->add_option("--interval-ms", client.interval_ms, "pause between requests")->capture_default_str();
  client_cmd->add_option("--tail", client.tail, "count the last N requests' bodies apart (tail_bodies)");
  client_cmd->add_flag("--print-body", client.print_body, "print each response body before the JSON line");

  CLI11_PARSE(app, argc, argv);
  if (*api_cmd) return RunApi(api);
  if (*fe_cmd) return RunFrontend(frontend);
  return RunClient(client);
}
