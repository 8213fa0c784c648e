// What `ferry-example-app client` saw over its N requests, as one JSON line:
// {"requests":N,"connections":k,"status":{"200":n,"403":m},"bodies":{"<body>":n},"errors":e,"last_error":"...",
//  "by_path":{"<path>":{"200":n}},"tail_bodies":{"<body>":n}}
// by_path counts statuses per request path; tail_bodies counts the bodies of the last requests
// marked as the tail (`--tail K`).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace ferry::example {

class ClientReport {
 public:
  // Bodies are counted by exact content; keys longer than this are cut to it.
  static constexpr size_t kMaxBodyKey = 200;

  void AddResponse(int status, std::string_view body, const std::string& path = {}, bool in_tail = false);
  void AddError(std::string message);
  void SetConnections(int connections) { connections_ = connections; }

  int requests() const { return responses_ + errors_; }
  // Every request got a response (whatever its status).
  bool AllAnswered() const { return errors_ == 0; }
  nlohmann::json ToJson() const;
  // ToJson() on one line; bytes that are not UTF-8 (a body cut mid-character) become U+FFFD.
  std::string ToJsonLine() const;

 private:
  int responses_ = 0;
  int errors_ = 0;
  int connections_ = 0;
  std::map<std::string, int> statuses_;
  std::map<std::string, int> bodies_;
  std::map<std::string, std::map<std::string, int>> by_path_;
  std::map<std::string, int> tail_bodies_;
  std::string last_error_;
};

}  // namespace ferry::example
