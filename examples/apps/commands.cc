#include "examples/apps/commands.h"

#include <chrono>
#include <cstdlib>
#include <thread>
#include <iostream>

#include "examples/apps/api_app.h"
#include "examples/apps/client_report.h"
#include "examples/apps/frontend_app.h"
#include "examples/apps/http_server.h"
#include "examples/apps/keepalive_client.h"
#include "examples/apps/net.h"
#include "examples/apps/pod_identity.h"
#include "examples/apps/url.h"

namespace ferry::example {

namespace {

int Fail(const std::string& what) {
  std::cerr << "ferry-example-app: " << what << std::endl;
  return 1;
}

// Binds, prints the bound address (tests start servers on port 0 and read it), then serves.
int Serve(const std::string& role, const std::string& listen, const PodIdentity& me, RequestHandler handler) {
  auto address = ParseListenAddress(listen);
  if (!address.ok()) return Fail(address.error().Message());
  auto fd = ListenTcp(*address);
  if (!fd.ok()) return Fail(fd.error().Message());
  auto port = LocalPort(fd->get());
  if (!port.ok()) return Fail(port.error().Message());
  std::cout << "ferry-example-app " << role << " " << me.Title() << " listening on " << address->host << ":" << *port
            << std::endl;
  auto served = ServeForever(fd->get(), std::move(handler));
  return Fail(served.error().Message());
}

}  // namespace

int RunApi(const ApiOptions& options) {
  std::string values = options.values;
  if (values.empty()) {
    const char* env = std::getenv("VALUES");
    values = env && *env ? env : kDefaultValues;
  }
  auto normalised = NormaliseValues(values);
  if (!normalised.ok()) return Fail(normalised.error().Message());
  PodIdentity me = DetectPodIdentity("");
  ApiApp app(*normalised, me);
  return Serve("api", options.listen, me, [app](const HttpMessage& request) { return app.Handle(request); });
}

int RunFrontend(const FrontendOptions& options) {
  auto api = ParseHttpUrl(options.api_url);
  if (!api.ok()) return Fail("--api: " + api.error().Message());
  PodIdentity me = DetectPodIdentity(options.ns);
  ConnectTimeouts timeouts{std::chrono::milliseconds(options.connect_timeout_ms),
                           std::chrono::milliseconds(options.timeout_ms)};
  auto app = std::make_shared<FrontendApp>(me, options.api_url, *api, timeouts);
  return Serve("frontend", options.listen, me, [app](const HttpMessage& request) { return app->Handle(request); });
}

int RunClient(const ClientOptions& options) {
  auto target = ParseHttpUrl(options.url);
  if (!target.ok()) return Fail("--url: " + target.error().Message());
  ConnectTimeouts timeouts{std::chrono::milliseconds(options.connect_timeout_ms),
                           std::chrono::milliseconds(options.timeout_ms)};
  KeepAliveClient client(*target, timeouts);
  ClientReport report;
  for (int i = 0; i < options.count; ++i) {
    if (i > 0 && options.interval_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(options.interval_ms));
    const std::string& method = options.methods.empty() ? options.method : options.methods[i % options.methods.size()];
    std::string path = options.paths.empty() ? std::string() : options.paths[i % options.paths.size()];
    auto response = client.Send(method, path);
    if (response.ok()) {
      if (options.print_body) std::cout << response->body << std::endl;
      std::string key = options.methods.empty() ? path : method + " " + (path.empty() ? target->path : path);
      report.AddResponse(response->status, response->body, key, i >= options.count - options.tail);
    } else {
      report.AddError(response.error().Message());
    }
  }
  report.SetConnections(client.connections_opened());
  std::cout << report.ToJsonLine() << std::endl;
  return report.AllAnswered() ? 0 : 1;
}

}  // namespace ferry::example
