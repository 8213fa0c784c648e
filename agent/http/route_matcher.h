// HTTPRouteGroup enforcement for one destination: the HTTP rules of the TrafficTargets that let a
// given source reach it, compiled once (RE2) and evaluated per request.
// Semantics (SMI specs v1alpha3/4, as OSM compiled them for Envoy):
//  - pathRegex is an RE2 FULL match of the normalised path without the query; empty = any path;
//  - methods: "*" or an empty list = any method;
//  - headers: every listed header must be present with a value that fully matches its regex
//    (names case-insensitive; with repeated headers, one matching occurrence is enough);
//  - AND within a match, OR across matches and rules; no rule at all = deny.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/http/http_message.h"
#include "common/result.h"
#include "ferry/v1/policy.pb.h"

namespace ferry::http {

struct RouteDecision {
  bool allowed = false;
  std::string
      rule;  // allowed: which rule/match allowed it ("ns/target HTTPRouteGroup/name match m")
  std::string reason;  // denied: what did not match, short enough for a 403 body
};

class RouteMatcher {
 public:
  RouteMatcher();
  ~RouteMatcher();
  RouteMatcher(RouteMatcher&&) noexcept;
  RouteMatcher& operator=(RouteMatcher&&) noexcept;

  // Adds the HTTPRouteGroup rules of a compiled TrafficTarget (TCP rules are the L4 evaluator's).
  // Fails on an invalid regex, naming the route.
  Result<void> AddAuthorization(const ferry::v1::Authorization& authz);
  // Adds one rule; `label` names it in decisions.
  Result<void> AddRule(std::string label, const ferry::v1::HttpRule& rule);

  // `path` is NormalizePath()'s path (no query). Thread-safe: const and RE2 is.
  RouteDecision Match(std::string_view method, std::string_view path,
                      std::span<const Header> headers) const;

  bool empty() const { return matches_.empty(); }

  struct CompiledMatch;  // opaque: one HTTPRouteGroup match with its regexes compiled

 private:
  std::vector<std::unique_ptr<CompiledMatch>> matches_;
};

}  // namespace ferry::http
