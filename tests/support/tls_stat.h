// The kernel's kTLS counters (/proc/net/tls_stat: "TlsTxSw 4" lines) as name -> value.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace ferry::testing {

// Parses tls_stat text (also text read from inside another namespace, e.g. a pod's).
std::map<std::string, uint64_t> ParseTlsStat(std::string_view text);
// The counters of the calling thread's network namespace; empty when the kernel has no kTLS.
std::map<std::string, uint64_t> ReadTlsStat();

}  // namespace ferry::testing
