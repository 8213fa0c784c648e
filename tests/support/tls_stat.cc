#include "support/tls_stat.h"

#include <fstream>
#include <sstream>

namespace ferry::testing {

std::map<std::string, uint64_t> ParseTlsStat(std::string_view text) {
  std::map<std::string, uint64_t> stats;
  std::istringstream in{std::string(text)};
  std::string name;
  uint64_t value = 0;
  while (in >> name >> value) stats[name] = value;
  return stats;
}

std::map<std::string, uint64_t> ReadTlsStat() {
  // /proc/net is /proc/self/net, the namespace of the thread-group leader; thread-self follows a
  // thread that entered another namespace with setns().
  std::ifstream file("/proc/thread-self/net/tls_stat");
  std::ostringstream text;
  text << file.rdbuf();
  return ParseTlsStat(text.str());
}

}  // namespace ferry::testing
