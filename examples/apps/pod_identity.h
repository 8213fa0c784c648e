// Who this process is, for page titles and the x-served-by header.
#pragma once

#include <string>

namespace ferry::example {

struct PodIdentity {
  std::string hostname;  // the pod name under Kubernetes and `ferryctl local` (both set $HOSTNAME)
  std::string ns;        // the pod's namespace when known; may be empty

  // "simple-app/frontend-0", or just the hostname when the namespace is unknown.
  std::string Title() const;
};

// hostname: $HOSTNAME, else gethostname(); ns: `namespace_flag`, else $POD_NAMESPACE.
PodIdentity DetectPodIdentity(const std::string& namespace_flag);

}  // namespace ferry::example
