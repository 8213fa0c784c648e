// Parsers for the SMI kinds: TrafficTarget, HTTPRouteGroup, TCPRoute, TrafficSplit.
#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "controlplane/smi/parse_internal.h"

namespace ferry::smi::internal {

std::string VersionOf(const std::string& api_version) {
  size_t slash = api_version.rfind('/');
  return slash == std::string::npos ? api_version : api_version.substr(slash + 1);
}

namespace {

SubjectRef ParseServiceAccountSubject(const Field& field, const std::string& default_ns) {
  if (!field.IsMap()) field.Fail("must be a mapping with kind, name and namespace");
  SubjectRef ref;
  ref.kind = field.Child("kind").RequireString();
  if (ref.kind != "ServiceAccount") {
    field.Child("kind").Fail("kind \"" + ref.kind + "\" is not supported (only ServiceAccount)");
  }
  ref.name = field.Child("name").RequireString();
  ref.ns = field.Child("namespace").StringOr(default_ns);
  if (ref.ns.empty()) ref.ns = default_ns;
  return ref;
}

TrafficTargetRule ParseRule(const Field& field) {
  if (!field.IsMap()) field.Fail("must be a mapping with kind and name");
  TrafficTargetRule rule;
  rule.kind = field.Child("kind").RequireString();
  if (rule.kind != "HTTPRouteGroup" && rule.kind != "TCPRoute") {
    field.Child("kind").Fail("rule kind \"" + rule.kind + "\" is not supported (HTTPRouteGroup or TCPRoute)");
  }
  rule.name = field.Child("name").RequireString();
  rule.matches = field.Child("matches").StringList();
  return rule;
}

void ValidateRegex(const std::string& path, const std::string& pattern) {
  RE2::Options options;
  options.set_log_errors(false);
  RE2 re(pattern, options);
  if (!re.ok()) Fail(path + ": invalid RE2 regular expression \"" + pattern + "\": " + re.error());
}

bool IsHttpMethodToken(const std::string& method) {
  return !method.empty() && std::all_of(method.begin(), method.end(), [](unsigned char c) {
    return (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
  });
}

// specs v1alpha4 writes headers as a map; the v1alpha2 prose shows a list of one-entry maps.
Labels ParseHeaders(const Field& field) {
  Labels raw;
  if (field.IsSequence()) {
    for (const Field& item : field.Items()) {
      for (auto& [k, v] : item.StringMap()) raw[k] = v;
    }
  } else {
    raw = field.StringMap();
  }
  Labels headers;
  for (auto& [name, value] : raw) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    ValidateRegex(field.path() + "." + name, value);
    headers[lower] = value;
  }
  return headers;
}

HttpRouteMatch ParseHttpMatch(const Field& field) {
  if (!field.IsMap()) field.Fail("must be a mapping");
  HttpRouteMatch match;
  // TrafficTarget rules select matches by name, so an anonymous match could never be chosen
  // explicitly and would make "omitted = all" the only way to use it: require the name.
  match.name = field.Child("name").RequireString();
  match.path_regex = field.Child("pathRegex").StringOr("");
  if (!match.path_regex.empty()) ValidateRegex(field.path() + ".pathRegex", match.path_regex);
  Field methods = field.Child("methods");
  match.methods = methods.StringList();
  for (size_t i = 0; i < match.methods.size(); ++i) {
    const std::string& m = match.methods[i];
    if (m != "*" && !IsHttpMethodToken(m)) {
      methods.Fail("method \"" + m + "\" is not \"*\" or an upper-case HTTP method (methods are case-sensitive)");
    }
  }
  match.headers = ParseHeaders(field.Child("headers"));
  return match;
}

}  // namespace

void ParseTrafficTarget(const Field& root, ResourceMeta meta, const ParseOptions&, ResourceSet& out) {
  Field spec = root.Child("spec");
  if (!spec.IsMap()) spec.Fail("required field is missing or not a mapping");
  TrafficTarget target;
  Field destination = spec.Child("destination");
  if (!destination.Exists()) destination.Fail("required field is missing");
  target.destination = ParseServiceAccountSubject(destination, meta.ns);
  if (target.destination.ns != meta.ns) {
    destination.Child("namespace").Fail(
        "destination namespace \"" + target.destination.ns + "\" differs from the TrafficTarget's namespace \"" +
        meta.ns + "\" (a TrafficTarget only applies in its destination's namespace)");
  }
  Field port = destination.Child("port");
  if (port.Exists()) {
    if (VersionOf(meta.api_version) != "v1alpha2") {
      // Ignoring it would silently open every port: refuse instead.
      port.Fail("destination.port exists only in access.smi-spec.io/v1alpha2; use a TCPRoute with matches.ports");
    }
    target.destination_port = port.RequirePort();
  }
  for (const Field& source : spec.Child("sources").Items()) {
    target.sources.push_back(ParseServiceAccountSubject(source, meta.ns));
  }
  for (const Field& rule : spec.Child("rules").Items()) target.rules.push_back(ParseRule(rule));
  target.meta = std::move(meta);
  out.traffic_targets.push_back(std::move(target));
}

void ParseHttpRouteGroup(const Field& root, ResourceMeta meta, const ParseOptions&, ResourceSet& out) {
  // specs v1alpha1/v1alpha2 put `matches` at the top level, v1alpha3+ under `spec`. Accept either
  // (manifests in the wild mix them up) but not both, which would be ambiguous.
  Field top = root.Child("matches");
  Field nested = root.Child("spec").Child("matches");
  if (top.Exists() && nested.Exists()) top.Fail("both matches and spec.matches are set");
  Field matches = top.Exists() ? top : nested;
  HttpRouteGroup group;
  std::set<std::string> names;
  for (const Field& item : matches.Items()) {
    HttpRouteMatch match = ParseHttpMatch(item);
    if (!names.insert(match.name).second) item.Child("name").Fail("duplicate match name \"" + match.name + "\"");
    group.matches.push_back(std::move(match));
  }
  group.meta = std::move(meta);
  out.http_route_groups.push_back(std::move(group));
}

void ParseTcpRoute(const Field& root, ResourceMeta meta, const ParseOptions&, ResourceSet& out) {
  TcpRoute route;
  Field matches = root.Child("spec").Child("matches");
  if (matches.Exists()) {
    if (VersionOf(meta.api_version) != "v1alpha4") {
      // Earlier versions have no ports: dropping them would widen the route to all ports.
      matches.Fail("TCPRoute matches (ports) require specs.smi-spec.io/v1alpha4");
    }
    if (!matches.IsMap()) matches.Fail("must be a mapping with name and ports");
    route.match_name = matches.Child("name").StringOr("");
    std::set<uint32_t> ports;
    for (const Field& port : matches.Child("ports").Items()) ports.insert(port.RequirePort());
    route.ports.assign(ports.begin(), ports.end());
  }
  route.meta = std::move(meta);
  out.tcp_routes.push_back(std::move(route));
}

std::string NormaliseServiceName(const Field& field, const std::string& ns, const ParseOptions& options) {
  const std::string written = field.RequireString();
  const size_t dot = written.find('.');
  if (dot == std::string::npos) return written;
  const std::string name = written.substr(0, dot);
  const std::string rest = written.substr(dot + 1);
  const size_t dot2 = rest.find('.');
  const std::string service_ns = rest.substr(0, dot2);
  const std::string suffix = dot2 == std::string::npos ? "" : rest.substr(dot2 + 1);
  if (name.empty() || service_ns.empty() ||
      !(suffix.empty() || suffix == "svc" || suffix == "svc." + options.cluster_domain)) {
    field.Fail("\"" + written + "\" is not a service name (name, name.<ns> or name.<ns>.svc." +
               options.cluster_domain + ")");
  }
  if (service_ns != ns) {
    field.Fail("service \"" + written + "\" is in namespace \"" + service_ns +
               "\", not the TrafficSplit's namespace \"" + ns + "\"");
  }
  return name;
}

void ParseTrafficSplit(const Field& root, ResourceMeta meta, const ParseOptions& options,
                       ResourceSet& out) {
  Field spec = root.Child("spec");
  if (!spec.IsMap()) spec.Fail("required field is missing or not a mapping");
  TrafficSplit split;
  split.root_service = NormaliseServiceName(spec.Child("service"), meta.ns, options);
  Field matches = spec.Child("matches");
  if (matches.Exists() && !matches.Items().empty()) {
    // Ignoring them would send all traffic through the split instead of the matched requests.
    matches.Fail("HTTPRouteGroup matches (A/B routing) in a TrafficSplit are not supported yet");
  }
  Field backends = spec.Child("backends");
  if (backends.Items().empty()) backends.Fail("at least one backend is required");
  int64_t total = 0;
  std::set<std::string> seen;
  for (const Field& item : backends.Items()) {
    if (!item.IsMap()) item.Fail("must be a mapping with service and weight");
    TrafficSplitBackend backend;
    backend.service = NormaliseServiceName(item.Child("service"), meta.ns, options);
    if (!seen.insert(backend.service).second) {
      item.Child("service").Fail("duplicate backend \"" + backend.service + "\"");
    }
    int64_t weight = item.Child("weight").RequireInt();
    if (weight < 0) item.Child("weight").Fail("weight " + std::to_string(weight) + " is negative");
    if (weight > 1'000'000'000) item.Child("weight").Fail("weight " + std::to_string(weight) + " is too large");
    backend.weight = static_cast<uint32_t>(weight);
    total += weight;
    split.backends.push_back(std::move(backend));
  }
  if (total <= 0) backends.Fail("weights sum to 0: the split would send traffic nowhere");
  split.meta = std::move(meta);
  out.traffic_splits.push_back(std::move(split));
}

}  // namespace ferry::smi::internal
