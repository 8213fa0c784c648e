#include "cli/operator_commands.h"

#include <CLI/CLI.hpp>
#include <iostream>
#include <map>
#include <set>

#include "cli/admin_client.h"
#include "cli/render.h"
#include "local/cluster.h"
#include "local/manifests.h"
#include "local/workloads.h"

namespace ferry::cli {

using nlohmann::json;

namespace {

const std::vector<std::string> kFormats = {"table", "json", "yaml"};

// The label on a stored Namespace manifest, "" when absent.
std::string MeshOf(const local::Manifest& ns) {
  YAML::Node label = local::Field(ns.doc, "metadata", "labels", local::kMonitoredByLabel);
  return label && label.IsScalar() ? label.as<std::string>() : std::string();
}

int PrintOrFail(const std::string& format, const json& document, const json& rows, const std::vector<Column>& columns,
                std::ostream& out, std::ostream& err) {
  if (PrintAs(format, document, rows, columns, out)) return 0;
  err << "error: -o must be table, json or yaml\n";
  return 2;
}

}  // namespace

json VersionJson() {
  return {{"client", {{"version", FERRY_VERSION}, {"commit", FERRY_GIT_COMMIT}, {"build", FERRY_BUILD_TYPE}}}};
}

json NamespacesJson(LocalContext& ctx) {
  struct Row {
    std::string mesh;
    bool declared = false;
    int pods = 0, enrolled = 0;
  };
  std::map<std::string, Row> rows;
  if (auto all = ctx.store.LoadAll(); all.ok()) {
    for (const auto& m : *all)
      if (m.kind == "Namespace") rows[m.name] = Row{MeshOf(m), true};
  }
  std::set<std::string> enrolled;
  for (const auto& n : ctx.cluster->nodes())
    if (auto list = ctx.cluster->EnrolledPods(n.index); list.ok()) enrolled.insert(list->begin(), list->end());
  for (const local::Pod* pod : ctx.cluster->pods()) {
    Row& row = rows[pod->options.namespace_name];
    ++row.pods;
    if (enrolled.count(pod->Key())) ++row.enrolled;
  }
  json out = json::array();
  for (const auto& [name, row] : rows) {
    bool in_mesh = !row.mesh.empty() && row.mesh == ctx.mesh_name;
    out.push_back({{"name", name},
                   {"mesh", row.mesh},
                   {"inMesh", in_mesh},
                   {"declared", row.declared},
                   {"pods", row.pods},
                   {"enrolledPods", row.enrolled}});
  }
  return out;
}

int LogLevel(const LogLevelOptions& options, std::ostream& out, std::ostream& err) {
  auto ctx = OpenRecorded(options.state_dir);
  if (!ctx.ok()) {
    err << "error: " << ctx.error().Message() << "\n";
    return 1;
  }
  if (!options.node.empty() && ctx->cluster->FindNode(options.node) == nullptr) {
    err << "error: no node " << options.node << " (see `ferryctl local get nodes`)\n";
    return 1;
  }
  std::string path = "/logging" + (options.level.empty() ? std::string() : "?level=" + options.level);
  json rows = json::array();
  int failures = 0;
  for (const auto& node : ctx->cluster->nodes()) {
    if (!options.node.empty() && node.name != options.node) continue;
    auto body = AskAgent(node.name, node.netns_path, options.admin_port, path);
    if (!body.ok()) {
      err << "error: " << body.error().Message() << "\n";
      ++failures;
      continue;
    }
    rows.push_back({{"node", node.name}, {"level", body->value("level", "")}});
  }
  int printed = PrintOrFail(options.output, json{{"agents", rows}}, rows, {{"NODE", "node"}, {"LEVEL", "level"}}, out, err);
  return failures > 0 ? 1 : printed;
}

int LocalScrapeConfigCommand(const std::string& state_dir, std::ostream& out, std::ostream& err) {
  auto ctx = OpenRecorded(state_dir);
  if (!ctx.ok()) {
    err << "error: " << ctx.error().Message() << "\n";
    return 1;
  }
  out << local::LocalScrapeConfig(*ctx->cluster);
  return 0;
}

void AddOperatorCommands(CLI::App& app, CLI::App& namespace_command, std::function<int()>& run,
                         std::string& state_dir) {
  static std::string version_output = "table";
  CLI::App* version = app.add_subcommand("version", "print ferryctl's version and the commit it was built from");
  version->add_option("-o,--output", version_output, "table | json | yaml")->capture_default_str()->check(CLI::IsMember(kFormats));
  version->callback([&] {
    run = [&] {
      json v = VersionJson();
      return PrintOrFail(version_output, v, json::array({v["client"]}),
                         {{"VERSION", "version"}, {"COMMIT", "commit"}, {"BUILD", "build"}}, std::cout, std::cerr);
    };
  });

  static std::string ns_output = "table";
  CLI::App* list = namespace_command.add_subcommand("list", "list the namespaces and whether each is in the mesh");
  list->add_option("-o,--output", ns_output, "table | json | yaml")->capture_default_str()->check(CLI::IsMember(kFormats));
  list->add_option("--state", state_dir, "state directory of the local cluster")->capture_default_str();
  list->callback([&] {
    run = [&] {
      auto ctx = OpenRecorded(state_dir);
      if (!ctx.ok()) {
        std::cerr << "error: " << ctx.error().Message() << "\n";
        return 1;
      }
      json rows = NamespacesJson(*ctx);
      return PrintOrFail(ns_output, json{{"mesh", ctx->mesh_name}, {"namespaces", rows}}, rows,
                         {{"NAME", "name"}, {"IN-MESH", "inMesh"}, {"MESH", "mesh"}, {"PODS", "pods"},
                          {"ENROLLED", "enrolledPods"}},
                         std::cout, std::cerr);
    };
  });

  static LogLevelOptions log;
  CLI::App* log_level = app.add_subcommand("log-level", "show or set the log level of the node agents");
  log_level->add_option("level", log.level, "trace | debug | info | warn | error | off (omit to show)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  log_level->add_option("--node", log.node, "only this node's agent (default: every node)");
  log_level->add_option("-o,--output", log.output, "table | json | yaml")->capture_default_str()->check(CLI::IsMember(kFormats));
  log_level->add_option("--admin-port", log.admin_port, "the agents' debug port")->capture_default_str();
  log_level->add_option("--state", state_dir, "state directory of the local cluster")->capture_default_str();
  log_level->callback([&] {
    run = [&] {
      log.state_dir = state_dir;
      return LogLevel(log, std::cout, std::cerr);
    };
  });
}

}  // namespace ferry::cli
