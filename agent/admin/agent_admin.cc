#include "agent/admin/agent_admin.h"

#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include <set>

#include "agent/inpod/pod_state.h"

namespace ferry::admin {

namespace {

using nlohmann::json;

AdminResponse JsonResponse(const json& body) {
  // Invalid UTF-8 in a name would make dump() throw; replace it rather than fail the endpoint.
  return AdminResponse{200, "application/json", body.dump(2, ' ', false, json::error_handler_t::replace) + "\n"};
}

// A member of the status answer under `key`, with the node it came from.
AdminHandler StatusPart(std::function<json()> status, std::string key, std::string as) {
  return [status = std::move(status), key = std::move(key), as = std::move(as)](const AdminRequest&) {
    json s = status();
    json out = {{"node", s.value("node", "")}, {as, s.contains(key) ? s[key] : json::array()}};
    if (as == "connections" && s.contains("proxy")) out["proxy"] = s["proxy"];
    if (as == "certificates" && s.contains("kernelTls")) out["kernelTls"] = s["kernelTls"];
    return JsonResponse(out);
  };
}

}  // namespace

json ConfigDumpJson(const v1::PolicySnapshot& snapshot, uint64_t version, json ack) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = false;  // lowerCamelCase, like the rest of the answers
  auto status = google::protobuf::util::MessageToJsonString(snapshot, &text, options);
  json printed = status.ok() ? json::parse(text, nullptr, false) : json(nullptr);
  json out = {{"version", version}, {"ack", std::move(ack)}, {"snapshot", printed}};
  if (!status.ok()) out["snapshotError"] = status.ToString();
  return out;
}

json WorkloadsJson(const std::vector<inpod::PodSpec>& known, const std::vector<inpod::PodSpec>& enrolled) {
  std::set<std::string> enrolled_keys;
  for (const auto& p : enrolled) enrolled_keys.insert(p.Key());
  json list = json::array();
  auto add = [&](const inpod::PodSpec& p, bool is_enrolled) {
    json j = inpod::PodSpecToJson(p);
    j["enrolled"] = is_enrolled;
    list.push_back(std::move(j));
  };
  std::set<std::string> listed;
  for (const auto& p : known) {
    add(p, enrolled_keys.count(p.Key()) > 0);
    listed.insert(p.Key());
  }
  // Restored pods are enrolled before the known set is rebuilt; list them anyway.
  for (const auto& p : enrolled)
    if (!listed.count(p.Key())) add(p, true);
  return {{"workloads", list}};
}

AdminResponse LoggingEndpoint(const AdminRequest& request) {
  auto level = request.query.find("level");
  if (level != request.query.end()) {
    static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "warning", "error", "critical", "off"};
    if (!kLevels.count(level->second))
      return AdminResponse::Error(400, "unknown level \"" + level->second + "\"; use trace|debug|info|warn|error|off");
    spdlog::set_level(spdlog::level::from_str(level->second));
    spdlog::info("log level set to {} through the debug endpoint", level->second);
  }
  auto current = spdlog::level::to_string_view(spdlog::get_level());
  return JsonResponse({{"level", std::string(current.data(), current.size())}});
}

AdminResponse ExplainEndpoint(const AgentAdminSources& sources, const AdminRequest& request) {
  if (!sources.explain) return AdminResponse::Error(404, "this agent does not explain its policy");
  auto answer = sources.explain(request.query);
  if (!answer.ok()) return AdminResponse::Error(400, answer.error().Message());
  return JsonResponse(*answer);
}

AdminRoutes DebugRoutes(const AgentAdminSources& sources) {
  AdminRoutes routes;
  routes["/config_dump"] = [f = sources.config_dump](const AdminRequest&) { return JsonResponse(f()); };
  routes["/workloads"] = [f = sources.workloads](const AdminRequest&) { return JsonResponse(f()); };
  routes["/certs"] = StatusPart(sources.status, "identities", "certificates");
  routes["/connections"] = StatusPart(sources.status, "connections", "connections");
  routes["/logging"] = LoggingEndpoint;
  json endpoints = {"/config_dump", "/workloads", "/certs", "/connections", "/logging?level="};
  if (sources.explain) {
    routes["/explain"] = [sources](const AdminRequest& request) { return ExplainEndpoint(sources, request); };
    endpoints.push_back("/explain?src=&dst=&port=&method=&path=");
  }
  routes["/"] = [endpoints](const AdminRequest&) { return JsonResponse({{"endpoints", endpoints}}); };
  return routes;
}

AdminRoutes ReadinessRoutes(const AgentAdminSources& sources) {
  AdminRoutes routes;
  routes["/healthz/ready"] = [f = sources.not_ready](const AdminRequest&) {
    auto why = f();
    if (why) return AdminResponse{503, "text/plain; charset=utf-8", "not ready: " + *why + "\n"};
    return AdminResponse::Text("ready\n");
  };
  return routes;
}

AdminRoutes MetricsRoutes(const AgentAdminSources& sources) {
  AdminRoutes routes;
  routes["/metrics"] = [f = sources.metrics_text](const AdminRequest&) {
    return AdminResponse::Text(f(), "text/plain; version=0.0.4; charset=utf-8");
  };
  return routes;
}

Result<std::unique_ptr<AgentAdmin>> AgentAdmin::Start(const AgentAdminOptions& options, AgentAdminSources sources) {
  FERRY_ASSERT(sources.status && sources.config_dump && sources.workloads && sources.not_ready && sources.metrics_text);
  auto admin = std::make_unique<AgentAdmin>();
  admin->sources_ = std::move(sources);
  auto start = [](const char* name, uint32_t address, uint16_t port, AdminRoutes routes,
                  std::unique_ptr<AdminServer>& into) -> Result<void> {
    if (port == 0) return Ok();
    AdminServerOptions o;
    o.listen = Ipv4Endpoint{address, port};
    o.name = name;
    auto server = AdminServer::Start(o, std::move(routes));
    if (!server.ok()) return server.error();
    spdlog::info("{} endpoint on {}", name, (*server)->local_endpoint().ToString());
    into = std::move(server).value();
    return Ok();
  };
  // The debug port is bound to loopback whatever the stats address is: it shows identities and
  // lets the log level be changed, so it must stay reachable from the node only.
  FERRY_TRY(start("debug", kLoopback, options.debug_port, DebugRoutes(admin->sources_), admin->debug_));
  FERRY_TRY(start("readiness", options.stats_address, options.readiness_port, ReadinessRoutes(admin->sources_),
                  admin->readiness_));
  FERRY_TRY(start("metrics", options.stats_address, options.metrics_port, MetricsRoutes(admin->sources_),
                  admin->metrics_));
  return admin;
}

}  // namespace ferry::admin
