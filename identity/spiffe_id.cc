#include "identity/spiffe_id.h"

#include <array>
#include <cstdio>

namespace ferry::identity {
namespace {

constexpr std::string_view kScheme = "spiffe://";

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Renders one offending byte readably in an error message.
std::string Describe(char c) {
  if (c >= 0x21 && c <= 0x7e) return std::string("'") + c + "'";
  std::array<char, 8> buf{};
  std::snprintf(buf.data(), buf.size(), "0x%02x", static_cast<unsigned char>(c));
  return buf.data();
}

Result<void> ValidateDnsLabel(std::string_view what, std::string_view label) {
  if (label.empty()) return MakeError(std::string(what) + " is empty");
  if (label.size() > 63) return MakeError(std::string(what) + " is longer than 63 characters");
  for (char c : label) {
    if (!IsLowerAlnum(c) && c != '-') {
      return MakeError(std::string(what) + " contains " + Describe(c) +
                       " (allowed: a-z, 0-9, '-')");
    }
  }
  if (label.front() == '-' || label.back() == '-') {
    return MakeError(std::string(what) + " must start and end with a letter or digit");
  }
  return Ok();
}

Result<void> ValidateNamespace(std::string_view ns) { return ValidateDnsLabel("namespace", ns); }

Result<void> ValidateServiceAccount(std::string_view sa) {
  if (sa.size() > kMaxServiceAccountLength) {
    return MakeError("service account is longer than 253 characters");
  }
  size_t start = 0;
  while (true) {
    size_t dot = sa.find('.', start);
    std::string_view label =
        sa.substr(start, dot == std::string_view::npos ? sa.npos : dot - start);
    FERRY_TRY(ValidateDnsLabel("service account", label));
    if (dot == std::string_view::npos) return Ok();
    start = dot + 1;
  }
}

// Splits "/ns/<ns>/sa/<sa>" into its two names, refusing any other shape.
Result<std::pair<std::string_view, std::string_view>> SplitWorkloadPath(std::string_view path) {
  std::array<std::string_view, 4> parts;
  size_t count = 0;
  size_t pos = 1;  // skip the leading '/'
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    size_t end = slash == std::string_view::npos ? path.size() : slash;
    if (count == parts.size()) return MakeError("path has more than /ns/<ns>/sa/<sa>");
    parts[count++] = path.substr(pos, end - pos);
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  if (count != parts.size() || parts[0] != "ns" || parts[2] != "sa") {
    return MakeError("path must be /ns/<namespace>/sa/<service-account>");
  }
  return std::make_pair(parts[1], parts[3]);
}

Result<void> CheckForbiddenBytes(std::string_view uri) {
  if (uri.size() > kMaxSpiffeIdLength) return MakeError("SPIFFE ID is longer than 2048 bytes");
  if (uri.find('\0') != std::string_view::npos) return MakeError("SPIFFE ID contains a NUL byte");
  if (uri.find('%') != std::string_view::npos) {
    return MakeError("SPIFFE ID must not use percent-encoding");
  }
  if (uri.find('?') != std::string_view::npos) return MakeError("SPIFFE ID must not have a query");
  if (uri.find('#') != std::string_view::npos) {
    return MakeError("SPIFFE ID must not have a fragment");
  }
  return Ok();
}

Result<void> CheckScheme(std::string_view uri) {
  if (uri.starts_with(kScheme)) return Ok();
  std::string lowered(uri.substr(0, kScheme.size()));
  for (char& c : lowered) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (lowered == kScheme) return MakeError("SPIFFE ID scheme must be lower-case \"spiffe\"");
  return MakeError("not a spiffe:// URI");
}

}  // namespace

Result<void> ValidateTrustDomain(std::string_view td) {
  if (td.empty()) return MakeError("trust domain is empty");
  if (td.size() > kMaxTrustDomainLength) {
    return MakeError("trust domain is longer than 255 characters");
  }
  if (td.find('@') != std::string_view::npos) {
    return MakeError("trust domain must not carry userinfo");
  }
  if (td.find(':') != std::string_view::npos)
    return MakeError("trust domain must not carry a port");
  for (char c : td) {
    if (!IsLowerAlnum(c) && c != '.' && c != '-' && c != '_') {
      return MakeError("trust domain contains " + Describe(c) +
                       " (allowed: a-z, 0-9, '.', '-', '_')");
    }
  }
  return Ok();
}

Result<SpiffeId> SpiffeId::Parse(std::string_view uri) {
  FERRY_TRY(CheckForbiddenBytes(uri));
  FERRY_TRY(CheckScheme(uri));
  std::string_view rest = uri.substr(kScheme.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return MakeError("SPIFFE ID has no workload path");
  std::string_view td = rest.substr(0, slash);
  FERRY_TRY(ValidateTrustDomain(td));
  auto names = SplitWorkloadPath(rest.substr(slash));
  if (!names.ok()) return names.error();
  auto [ns, sa] = names.value();
  FERRY_TRY(ValidateNamespace(ns));
  FERRY_TRY(ValidateServiceAccount(sa));
  return SpiffeId(std::string(td), std::string(ns), std::string(sa));
}

Result<SpiffeId> SpiffeId::Make(std::string_view trust_domain, std::string_view ns,
                                std::string_view service_account) {
  std::string uri = std::string(kScheme) + std::string(trust_domain) + "/ns/" + std::string(ns) +
                    "/sa/" + std::string(service_account);
  return Parse(uri);
}

std::string SpiffeId::ToString() const {
  return std::string(kScheme) + trust_domain_ + "/ns/" + ns_ + "/sa/" + service_account_;
}

}  // namespace ferry::identity
