// Wall-clock times as RFC 3339 UTC text ("2026-11-27T00:00:00Z", or with ".123" milliseconds),
// the form log pipelines and people both read without configuration.
#pragma once

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace ferry {

inline std::string FormatUtc(std::chrono::system_clock::time_point t, bool milliseconds = false) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);  // times after 1970 only
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  if (milliseconds) n += std::snprintf(buf + n, sizeof(buf) - n, ".%03d", static_cast<int>(ms % 1000));
  std::snprintf(buf + n, sizeof(buf) - n, "Z");
  return buf;
}

}  // namespace ferry
