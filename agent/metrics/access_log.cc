#include "agent/metrics/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/utc_time.h"

namespace ferry::metrics {

using nlohmann::json;

namespace {

const char* EndsName(LoggedEnds ends) {
  switch (ends) {
    case LoggedEnds::kSource: return "source";
    case LoggedEnds::kDestination: return "destination";
    case LoggedEnds::kBoth: return "both";
  }
  return "source";
}

json PeerJson(const Peer& peer, const std::string& address) {
  json out = {{"workload", peer.workload}, {"namespace", peer.ns}, {"principal", peer.principal}};
  if (!address.empty()) out["address"] = address;
  return out;
}

}  // namespace

Result<std::unique_ptr<AccessLog>> AccessLog::Open(const std::string& path, Clock clock) {
  if (!clock) clock = [] { return std::chrono::system_clock::now(); };
  int fd = path == "-" ? ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0)
                       : ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return MakeError("access log " + path + ": " + std::strerror(errno));
  return std::unique_ptr<AccessLog>(new AccessLog(UniqueFd(fd), std::move(clock)));
}

json AccessLog::ConnectionJson(const ConnectionLogEntry& e) {
  json destination = PeerJson(e.destination, e.destination_address);
  destination["port"] = e.destination_port;
  return {{"type", "connection"},
          {"reporter", EndsName(e.ends)},
          {"decision", "allow"},
          {"source", PeerJson(e.source, e.source_address)},
          {"destination", std::move(destination)},
          {"tls", e.tls_mode},
          {"bytes_from_client", e.bytes_from_client},
          {"bytes_to_client", e.bytes_to_client},
          {"duration_ms", e.duration.count()},
          {"close", e.close_reason}};
}

json AccessLog::RequestJson(const RequestLogEntry& e) {
  // A request the proxy answered with 403 was refused by policy; other local answers (502, 503,
  // 400) were allowed but failed.
  bool denied = e.refused && e.status == 403;
  return {{"type", "request"},
          {"reporter", EndsName(e.ends)},
          {"decision", denied ? "deny" : "allow"},
          {"source", PeerJson(e.source, "")},
          {"destination", PeerJson(e.destination, e.upstream)},
          {"method", e.method},
          {"path", e.path},
          {"status", e.status},
          {"local_response", e.refused},
          {"request_body_bytes", e.request_body_bytes},
          {"response_body_bytes", e.response_body_bytes},
          {"duration_ms", static_cast<double>(e.duration.count()) / 1000.0}};
}

void AccessLog::Connection(const ConnectionLogEntry& entry) { Write(ConnectionJson(entry)); }

void AccessLog::Request(const RequestLogEntry& entry) { Write(RequestJson(entry)); }

void AccessLog::Refused(std::string_view reason, std::string_view detail) {
  Write({{"type", "connection"}, {"decision", "deny"}, {"reason", reason}, {"detail", detail}});
}

void AccessLog::Write(json line) {
  json out = {{"time", FormatUtc(clock_(), /*milliseconds=*/true)}};
  out.update(line);
  // Invalid UTF-8 (e.g. from a path) is replaced rather than dropping the line.
  std::string text = out.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::lock_guard lock(mu_);
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd_.get(), p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a full disk must not stop the data path; the line is lost
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace ferry::metrics
