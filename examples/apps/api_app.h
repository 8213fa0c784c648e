// The `api` service: its values at /api/values (any method), and an "admin area" at every other
// path, which the walkthrough's HTTPRouteGroup does not allow: a 403 a client sees there comes
// from the mesh, never from this app.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "examples/apps/http_server.h"
#include "examples/apps/pod_identity.h"

namespace ferry::example {

inline constexpr const char* kValuesPath = "/api/values";
inline constexpr const char* kDefaultValues = R"(["Value 1","Value 2","Value 3"])";

// Any JSON document, re-rendered compactly: `[ "a", "b" ]` → `["a","b"]`.
Result<std::string> NormaliseValues(std::string_view json_text);

class ApiApp {
 public:
  ApiApp(std::string values_json, PodIdentity identity)
      : values_json_(std::move(values_json)), identity_(std::move(identity)) {}

  Reply Handle(const HttpMessage& request) const;

 private:
  std::string values_json_;
  PodIdentity identity_;
};

}  // namespace ferry::example
