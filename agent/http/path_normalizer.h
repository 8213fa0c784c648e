// One normal form of a request path, used both for HTTPRouteGroup matching and for forwarding:
// if the proxy matched one string and forwarded another, the backend could be tricked into
// serving a path the policy never allowed (/api/values/%2e%2e/admin).
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace ferry::http {

struct NormalizedTarget {
  std::string path;        // normalised, always starts with '/'
  std::string query;       // as received, without the '?'
  bool has_query = false;  // "/a?" keeps its (empty) query
};

// Normalises an origin-form ("/p?q") or absolute-form ("http://host/p?q") request target:
//  - the query is split off and kept as received (only control characters are refused);
//  - percent-escapes of unreserved characters (ALPHA DIGIT - . _ ~) are decoded, all others are
//    kept with upper-case hex (so %2F stays an escaped slash, not a separator);
//  - dot-segments are resolved (RFC 3986 5.2.4) after decoding; climbing above the root is an
//    error rather than clamped, because such a request is an attack, not a typo;
//  - runs of slashes collapse into one.
// Errors: control characters or NUL (raw or escaped), malformed escapes, fragments, targets of
// other forms ("*", authority-form).
Result<NormalizedTarget> NormalizePath(std::string_view target);

// The origin-form target to forward: path, then '?' and the query when there was one.
std::string BuildTarget(const NormalizedTarget& target);

}  // namespace ferry::http
