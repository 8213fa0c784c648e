#include "agent/http/route_matcher.h"

#include <re2/re2.h>

#include <algorithm>

namespace ferry::http {

struct RouteMatcher::CompiledMatch {
  std::string label;
  std::string path_source;
  std::unique_ptr<RE2> path;         // null = any path
  std::vector<std::string> methods;  // empty = any method
  struct HeaderRule {
    std::string name;
    std::string source;
    std::unique_ptr<RE2> value;
  };
  std::vector<HeaderRule> headers;
};

namespace {

// How far a request got through one match; the furthest one explains a denial best.
enum class Stage { kPath = 0, kMethod = 1, kHeaders = 2, kAllowed = 3 };

Result<std::unique_ptr<RE2>> CompileRegex(const std::string& source, const std::string& what) {
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_unique<RE2>(source, options);
  if (!re->ok()) return MakeError("invalid regex in " + what + ": " + re->error());
  return re;
}

bool HeaderMatches(const RE2& value_re, std::string_view name, std::span<const Header> headers) {
  for (const Header& h : headers) {
    if (EqualsIgnoreCase(h.name, name) && RE2::FullMatch(h.value, value_re)) return true;
  }
  return false;
}

}  // namespace

RouteMatcher::RouteMatcher() = default;
RouteMatcher::~RouteMatcher() = default;
RouteMatcher::RouteMatcher(RouteMatcher&&) noexcept = default;
RouteMatcher& RouteMatcher::operator=(RouteMatcher&&) noexcept = default;

Result<void> RouteMatcher::AddAuthorization(const ferry::v1::Authorization& authz) {
  for (const auto& rule : authz.rules()) {
    if (!rule.has_http()) continue;
    const std::string label =
        authz.namespace_() + "/" + authz.name() + " " + rule.route_kind() + "/" + rule.route_name();
    FERRY_TRY(AddRule(label, rule.http()));
  }
  return Ok();
}

Result<void> RouteMatcher::AddRule(std::string label, const ferry::v1::HttpRule& rule) {
  for (const ferry::v1::HttpMatch& m : rule.matches()) {
    auto compiled = std::make_unique<CompiledMatch>();
    compiled->label = label + (m.name().empty() ? "" : " match " + m.name());
    compiled->path_source = m.path_regex();
    if (!m.path_regex().empty()) {
      auto re = CompileRegex(m.path_regex(), compiled->label + " pathRegex");
      if (!re.ok()) return re.error();
      compiled->path = std::move(*re);
    }
    for (const std::string& method : m.methods()) {
      if (method == "*") {
        compiled->methods.clear();
        break;
      }
      compiled->methods.push_back(method);
    }
    for (const auto& [name, source] : m.headers()) {
      auto re = CompileRegex(source, compiled->label + " header " + name);
      if (!re.ok()) return re.error();
      compiled->headers.push_back({name, source, std::move(*re)});
    }
    // Protobuf maps have no order; sorting keeps denial reasons stable between snapshots.
    std::sort(compiled->headers.begin(), compiled->headers.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    matches_.push_back(std::move(compiled));
  }
  return Ok();
}

namespace {

// Where a request fell out of one match, and how many criteria the match actually stated (a
// regex or a method list, not "any") it met before that. The match with the highest score is the
// one the request came closest to, so its failure explains the denial best.
struct Outcome {
  Stage stage = Stage::kAllowed;
  int score = 0;
  std::string failed_header;
};

Outcome Evaluate(const RouteMatcher::CompiledMatch& m, std::string_view method,
                 std::string_view path, std::span<const Header> headers) {
  Outcome out;
  if (m.path) {
    if (!RE2::FullMatch(path, *m.path)) return {Stage::kPath, out.score, {}};
    ++out.score;
  }
  if (!m.methods.empty()) {
    bool listed = false;
    for (const std::string& allowed : m.methods)
      listed = listed || allowed == method;  // methods are case-sensitive (RFC 9110 9.1)
    if (!listed) return {Stage::kMethod, out.score, {}};
    ++out.score;
  }
  for (const auto& h : m.headers) {
    if (!HeaderMatches(*h.value, h.name, headers)) return {Stage::kHeaders, out.score, h.name};
    ++out.score;
  }
  return out;
}

std::string JoinMethods(const std::vector<std::string>& methods) {
  std::string out;
  for (const std::string& m : methods) out += (out.empty() ? "" : ",") + m;
  return out;
}

}  // namespace

RouteDecision RouteMatcher::Match(std::string_view method, std::string_view path,
                                  std::span<const Header> headers) const {
  RouteDecision decision;
  if (matches_.empty()) {
    decision.reason = "no HTTP route allows this source";
    return decision;
  }
  const CompiledMatch* closest = nullptr;
  Outcome closest_outcome;
  for (const auto& m : matches_) {
    Outcome outcome = Evaluate(*m, method, path, headers);
    if (outcome.stage == Stage::kAllowed) {
      decision.allowed = true;
      decision.rule = m->label;
      return decision;
    }
    if (closest == nullptr || outcome.score > closest_outcome.score) {
      closest = m.get();
      closest_outcome = std::move(outcome);
    }
  }
  const std::string request = std::string(method) + " " + std::string(path);
  switch (closest_outcome.stage) {
    case Stage::kPath:
      decision.reason = request + ": path matches no allowed route";
      break;
    case Stage::kMethod:
      decision.reason = request + ": method " + std::string(method) + " not allowed by " +
                        closest->label + " (allows " + JoinMethods(closest->methods) + ")";
      break;
    default:
      decision.reason = request + ": header " + closest_outcome.failed_header + " does not match " +
                        closest->label;
      break;
  }
  return decision;
}

}  // namespace ferry::http
