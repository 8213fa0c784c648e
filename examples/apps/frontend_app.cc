#include "examples/apps/frontend_app.h"

#include <nlohmann/json.hpp>

#include "examples/apps/api_app.h"

namespace ferry::example {

namespace {

constexpr const char* kStyle =
    "body{font-family:sans-serif;max-width:40em;margin:2em auto;color:#222}"
    "h1{font-size:1.4em}.ok{color:#1a7f37}.bad{color:#b42318}"
    "li{font-size:1.2em;margin:.2em 0}.meta{color:#666;font-size:.9em}";

// A JSON array's items as list entries (strings without their quotes); anything else verbatim.
std::string ValuesHtml(const std::string& body) {
  auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_array()) return "<pre>" + HtmlEscape(body) + "</pre>";
  std::string out = "<ul id=\"values\">";
  for (const auto& item : parsed) {
    out += "<li>" + HtmlEscape(item.is_string() ? item.get<std::string>() : item.dump()) + "</li>";
  }
  return out + "</ul>";
}

std::string OutcomeHtml(const ApiOutcome& outcome) {
  if (!outcome.response) {
    return "<p class=\"bad\" id=\"status\">api unreachable: " + HtmlEscape(outcome.error) + "</p>";
  }
  const HttpMessage& r = *outcome.response;
  std::string served_by = r.Header("x-served-by");
  std::string by = served_by.empty() ? "" : " (served by <b id=\"served-by\">" + HtmlEscape(served_by) + "</b>)";
  if (r.status != 200) {
    return "<p class=\"bad\" id=\"status\">api answered " + std::to_string(r.status) + ": " + HtmlEscape(r.body) +
           "</p>" + by;
  }
  return "<p class=\"ok\" id=\"status\">api answered 200" + by + "</p>" + ValuesHtml(r.body);
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string RenderFrontendPage(const PodIdentity& me, const std::string& api_url, const ApiOutcome& outcome) {
  std::string title = HtmlEscape(me.Title());
  return "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>" + title + "</title><style>" + kStyle +
         "</style></head>\n<body><h1>" + title + "</h1>\n<p>Values from <code>" + HtmlEscape(api_url) +
         "</code> for this page load:</p>\n" + OutcomeHtml(outcome) + "\n<p class=\"meta\">Connections opened to api: " +
         std::to_string(outcome.api_connections) + " &middot; <a href=\"/\">reload</a></p>\n</body></html>\n";
}

ApiOutcome FrontendApp::FetchValues() {
  std::lock_guard lock(mu_);
  ApiOutcome outcome;
  auto response = client_.Send("GET");
  if (response.ok()) {
    outcome.response = std::move(*response);
  } else {
    outcome.error = response.error().Message();
  }
  outcome.api_connections = client_.connections_opened();
  return outcome;
}

Reply FrontendApp::Handle(const HttpMessage& request) {
  Reply reply;
  reply.headers.emplace_back("x-served-by", me_.hostname);
  std::string path = request.Path();
  if (path != "/" && path != kValuesPath) {
    reply.status = 404;
    reply.body = "not found: " + path;
    return reply;
  }
  ApiOutcome outcome = FetchValues();
  if (path == "/") {
    reply.content_type = "text/html; charset=utf-8";
    reply.body = RenderFrontendPage(me_, api_url_, outcome);
  } else if (!outcome.response) {
    reply.status = 502;
    reply.body = "api unreachable: " + outcome.error;
  } else {
    reply.status = outcome.response->status;
    std::string type = outcome.response->Header("content-type");
    if (!type.empty()) reply.content_type = type;
    reply.body = outcome.response->body;
    reply.headers.emplace_back("x-api-served-by", outcome.response->Header("x-served-by"));
  }
  return reply;
}

}  // namespace ferry::example
