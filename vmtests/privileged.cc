#include "privileged.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace ferry::vmtest {

bool PrivilegesRequired() {
  const char* v = std::getenv("FERRY_REQUIRE_PRIVILEGED");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

std::string MissingPrivilege() {
  if (geteuid() != 0) return "privileged test needs root (FERRY_REQUIRE_PRIVILEGED=1 makes this a failure)";
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) return "kernel has no BTF (/sys/kernel/btf/vmlinux)";
  return {};
}

}  // namespace ferry::vmtest
