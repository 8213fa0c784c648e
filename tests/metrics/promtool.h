// Runs Prometheus' own checker (`promtool check metrics`, Debian package "prometheus") on an
// exposition. Missing promtool fails under CI=true and skips elsewhere.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace ferry::metrics::testing {

inline std::string FindPromtool() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::filesystem::path candidate = std::filesystem::path(dirs.substr(start, end - start)) / "promtool";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return {};
}

struct PromtoolResult {
  int exit_code = -1;
  std::string output;
};

// Exit code and combined output of `promtool check metrics` reading `text`.
inline PromtoolResult RunPromtool(const std::string& promtool, const std::string& text) {
  auto file = std::filesystem::temp_directory_path() /
              ("h5-metrics-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()) + ".prom");
  std::ofstream(file) << text;
  std::string command = "'" + promtool + "' check metrics < '" + file.string() + "' 2>&1";
  PromtoolResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe != nullptr) {
    std::array<char, 4096> buf;
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) result.output.append(buf.data(), n);
    int status = ::pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::filesystem::remove(file);
  return result;
}

}  // namespace ferry::metrics::testing

// Sets `var` to promtool's path, or fails (CI=true) / skips the test when it is not installed.
#define FERRY_REQUIRE_PROMTOOL(var)                                                             \
  std::string var = ::ferry::metrics::testing::FindPromtool();                                  \
  if (var.empty()) {                                                                            \
    const char* ci = std::getenv("CI");                                                         \
    if (ci != nullptr && std::string(ci) == "true")                                             \
      FAIL() << "promtool not found in PATH (install Debian's prometheus: scripts/setup.sh)";   \
    GTEST_SKIP() << "promtool not found in PATH (install Debian's prometheus package)";         \
  }
