#include "examples/apps/client_report.h"

namespace ferry::example {

void ClientReport::AddResponse(int status, std::string_view body, const std::string& path, bool in_tail) {
  ++responses_;
  ++statuses_[std::to_string(status)];
  std::string key(body.substr(0, kMaxBodyKey));
  ++bodies_[key];
  if (!path.empty()) ++by_path_[path][std::to_string(status)];
  if (in_tail) ++tail_bodies_[key];
}

void ClientReport::AddError(std::string message) {
  ++errors_;
  last_error_ = std::move(message);
}

nlohmann::json ClientReport::ToJson() const {
  nlohmann::json status = nlohmann::json::object();
  for (const auto& [code, n] : statuses_) status[code] = n;
  nlohmann::json bodies = nlohmann::json::object();
  for (const auto& [body, n] : bodies_) bodies[body] = n;
  nlohmann::json report = {{"requests", requests()}, {"connections", connections_}, {"status", status},
                           {"bodies", bodies},       {"errors", errors_},           {"last_error", last_error_}};
  if (!by_path_.empty()) report["by_path"] = by_path_;
  if (!tail_bodies_.empty()) report["tail_bodies"] = tail_bodies_;
  return report;
}

std::string ClientReport::ToJsonLine() const {
  return ToJson().dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ferry::example
