#include "examples/apps/pod_identity.h"

#include <unistd.h>

#include <cstdlib>

namespace ferry::example {

std::string PodIdentity::Title() const { return ns.empty() ? hostname : ns + "/" + hostname; }

PodIdentity DetectPodIdentity(const std::string& namespace_flag) {
  PodIdentity id;
  // `ferryctl local` pods share the host's UTS namespace, so gethostname() would name the machine.
  if (const char* h = std::getenv("HOSTNAME"); h && *h) {
    id.hostname = h;
  } else {
    char buf[256] = {};
    id.hostname = ::gethostname(buf, sizeof buf - 1) == 0 ? buf : "unknown";
  }
  if (!namespace_flag.empty()) {
    id.ns = namespace_flag;
  } else if (const char* n = std::getenv("POD_NAMESPACE")) {
    id.ns = n;
  }
  return id;
}

}  // namespace ferry::example
