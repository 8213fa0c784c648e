// The agent's optional access log: one JSON line per connection (when it closes, or when it is
// refused) and per HTTP exchange, naming both ends' workloads and identities, the decision, the
// bytes and the duration. Off unless the agent is started with --access-log.
//
// Lines are written whole with one write(2) on an O_APPEND file under a mutex, so concurrent
// workers never interleave and a log shipper tailing the file sees complete lines.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "agent/metrics/workload_names.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace ferry::metrics {

// Which ends of the exchange this agent serves (both for a same-node connection, logged once).
enum class LoggedEnds { kSource, kDestination, kBoth };

struct ConnectionLogEntry {
  LoggedEnds ends = LoggedEnds::kSource;
  Peer source, destination;
  std::string source_address, destination_address;
  uint16_t destination_port = 0;
  std::string tls_mode;  // "none", "ktls", "userspace"
  uint64_t bytes_from_client = 0, bytes_to_client = 0;
  std::chrono::milliseconds duration{0};
  std::string close_reason;
};

struct RequestLogEntry {
  LoggedEnds ends = LoggedEnds::kSource;
  Peer source, destination;
  std::string method, path;  // the normalised path, without the query
  int status = 0;            // 0: the connection broke before a response
  bool refused = false;      // answered by the proxy itself (403, 400, 502, 503...)
  std::string upstream;      // the endpoint it went to; empty when refused before one was chosen
  uint64_t request_body_bytes = 0, response_body_bytes = 0;
  std::chrono::microseconds duration{0};
};

class AccessLog {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  // `path`: a file (created 0640, appended to) or "-" for standard output.
  static Result<std::unique_ptr<AccessLog>> Open(const std::string& path, Clock clock = nullptr);

  void Connection(const ConnectionLogEntry& entry);
  // A connection the agent refused before it was relayed: `reason` as ferry_denied_total's label.
  void Refused(std::string_view reason, std::string_view detail);
  void Request(const RequestLogEntry& entry);

  // The JSON of each line, for tests and for anyone reusing the format.
  static nlohmann::json ConnectionJson(const ConnectionLogEntry& entry);
  static nlohmann::json RequestJson(const RequestLogEntry& entry);

 private:
  AccessLog(UniqueFd fd, Clock clock) : fd_(std::move(fd)), clock_(std::move(clock)) {}
  void Write(nlohmann::json line);

  std::mutex mu_;
  UniqueFd fd_;
  Clock clock_;
};

}  // namespace ferry::metrics
