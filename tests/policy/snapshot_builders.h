// Small builders for the PolicySnapshots tests hand to the evaluator, the dispatcher and the
// agent's endpoints.
#pragma once

#include "ferry/v1/policy.pb.h"

namespace ferry::test_snapshots {

// An Authorization (a compiled TrafficTarget ns/name) letting service account ns/source reach
// ns/destination through one rule of `route_kind` ("TCPRoute" or "HTTPRouteGroup"); the caller
// fills the rule's ports or HTTP matches.
inline v1::AuthorizationRule* AddAuthorization(v1::PolicySnapshot& s, const char* ns, const char* name,
                                              const char* destination, const char* source, const char* route_kind,
                                              const char* route_name) {
  auto* a = s.add_authorizations();
  a->set_namespace_(ns);
  a->set_name(name);
  a->mutable_destination()->set_namespace_(ns);
  a->mutable_destination()->set_name(destination);
  auto* src = a->add_sources();
  src->set_namespace_(ns);
  src->set_name(source);
  auto* rule = a->add_rules();
  rule->set_route_kind(route_kind);
  rule->set_route_name(route_name);
  return rule;
}

}  // namespace ferry::test_snapshots
