// Manifests shared by the control-plane tests: a monitored namespace "shop" with a TCP
// TrafficTarget api -> db, and helpers to vary it.
#pragma once

#include <string>

namespace ferry::controlplane::testing {

inline std::string Namespace(const std::string& name, const std::string& mesh = "ferry") {
  return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + name +
         "\n  labels: {ferry.sh/monitored-by: " + mesh + "}\n";
}

inline std::string TcpRoute(const std::string& name, const std::string& ns = "shop", int port = 5432) {
  return "apiVersion: specs.smi-spec.io/v1alpha4\nkind: TCPRoute\nmetadata: {name: " + name +
         ", namespace: " + ns + "}\nspec: {matches: {ports: [" + std::to_string(port) + "]}}\n";
}

// A TrafficTarget letting `source` reach `destination` over TCPRoute `route`.
inline std::string Target(const std::string& name, const std::string& source = "api",
                          const std::string& destination = "db", const std::string& route = "db-port",
                          const std::string& ns = "shop") {
  return "apiVersion: access.smi-spec.io/v1alpha3\nkind: TrafficTarget\nmetadata: {name: " + name +
         ", namespace: " + ns + "}\nspec:\n  destination: {kind: ServiceAccount, name: " + destination +
         "}\n  rules: [{kind: TCPRoute, name: " + route + "}]\n  sources: [{kind: ServiceAccount, name: " +
         source + "}]\n";
}

// The same target made invalid: its source is not a ServiceAccount.
inline std::string BrokenTarget(const std::string& name, const std::string& ns = "shop") {
  return "apiVersion: access.smi-spec.io/v1alpha3\nkind: TrafficTarget\nmetadata: {name: " + name +
         ", namespace: " + ns + "}\nspec:\n  destination: {kind: ServiceAccount, name: db}\n"
         "  rules: [{kind: TCPRoute, name: db-port}]\n  sources: [{kind: Group, name: api}]\n";
}

inline std::string Docs(std::initializer_list<std::string> docs) {
  std::string out;
  for (const std::string& d : docs) out += (out.empty() ? "" : "---\n") + d;
  return out;
}

}  // namespace ferry::controlplane::testing
