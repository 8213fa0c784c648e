#include "examples/apps/api_app.h"

#include <nlohmann/json.hpp>

namespace ferry::example {

Result<std::string> NormaliseValues(std::string_view json_text) {
  auto parsed = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return MakeError("values are not JSON: " + std::string(json_text));
  return parsed.dump();
}

Reply ApiApp::Handle(const HttpMessage& request) const {
  Reply reply;
  reply.headers.emplace_back("x-served-by", identity_.hostname);
  if (request.Path() == kValuesPath) {
    reply.content_type = "application/json";
    reply.body = values_json_;
  } else {
    reply.body = "admin area of " + identity_.hostname;
  }
  return reply;
}

}  // namespace ferry::example
