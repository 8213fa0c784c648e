#include "controlplane/server/controller_ca.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>

#include "common/atomic_file.h"
#include "identity/certificate_builder.h"
#include "identity/csr.h"
#include "identity/pem.h"
#include "identity/x509_inspect.h"

namespace ferry::controlplane {
namespace {

namespace fs = std::filesystem;
using identity::CaOptions;
using identity::CertificateAuthority;

// The intermediates CertificateAuthority::FromPem derives from the same file: every
// certificate of it that is not a root, in file order.
Result<std::string> ChainFromCertificateFile(const fs::path& cert_path) {
  Result<std::string> pem = identity::ReadTextFile(cert_path.string());
  if (!pem.ok()) return pem.error();
  Result<std::vector<identity::UniqueX509>> certs = identity::CertificatesFromPem(pem.value());
  if (!certs.ok()) return certs.error();
  std::vector<identity::UniqueX509> intermediates;
  for (auto& cert : certs.value()) {
    if (!identity::IsSelfSigned(cert.get())) intermediates.push_back(std::move(cert));
  }
  if (intermediates.empty()) return std::string();
  return identity::CertificatesToPem(intermediates);
}

Result<ControllerCa> Finish(CertificateAuthority authority, std::string chain_pem) {
  Result<std::string> bundle = authority.trust_bundle().ToPem();
  if (!bundle.ok()) return bundle.error();
  return ControllerCa{std::move(authority), std::move(chain_pem), std::move(bundle).value()};
}

Result<ControllerCa> LoadOperatorCa(const CaSettings& settings, CaOptions options) {
  Result<CertificateAuthority> ca = CertificateAuthority::FromFiles(
      std::move(options), settings.ca_cert.string(), settings.ca_key.string(), settings.ca_extra_roots.string());
  if (!ca.ok()) return MakeError("loading the CA from " + settings.ca_cert.string() + ": " + ca.error().Message());
  Result<std::string> chain = ChainFromCertificateFile(settings.ca_cert);
  if (!chain.ok()) return chain.error();
  spdlog::info("CA loaded from {} ({} chain)", settings.ca_cert.string(),
               chain->empty() ? "a root, no" : "an intermediate, with its");
  return Finish(std::move(ca).value(), std::move(chain).value());
}

// The generated root lives in ca_dir; once written it is reused forever, so agents' bundles
// stay valid across restarts. Never overwritten: a half-present pair is an error to look at.
Result<ControllerCa> LoadOrCreateGeneratedCa(const CaSettings& settings, CaOptions options) {
  const fs::path cert_path = settings.ca_dir / "ca.pem";
  const fs::path key_path = settings.ca_dir / "ca.key";
  std::error_code ec;
  const bool have_cert = fs::exists(cert_path, ec);
  const bool have_key = fs::exists(key_path, ec);
  if (have_cert && have_key) {
    Result<CertificateAuthority> ca = CertificateAuthority::FromFiles(std::move(options), cert_path.string(), key_path.string());
    if (!ca.ok()) return MakeError("reusing the generated CA in " + settings.ca_dir.string() + ": " + ca.error().Message());
    spdlog::info("reusing the CA root generated earlier in {}", settings.ca_dir.string());
    return Finish(std::move(ca).value(), "");
  }
  if (have_cert || have_key) {
    return MakeError("CA directory " + settings.ca_dir.string() + " has only one of ca.pem and ca.key; refusing to " +
                         "replace a CA agents may already trust (restore the other file or remove both)",
                     EEXIST);
  }
  fs::create_directories(settings.ca_dir, ec);
  if (ec) return MakeError("creating CA directory " + settings.ca_dir.string() + ": " + ec.message(), ec.value());
  ::chmod(settings.ca_dir.c_str(), 0700);
  Result<CertificateAuthority> ca = CertificateAuthority::CreateSelfSigned(std::move(options));
  if (!ca.ok()) return ca.error();
  Result<std::string> key_pem = ca->SigningKeyPem();
  if (!key_pem.ok()) return key_pem.error();
  Result<std::string> cert_pem = ca->SigningCertificatePem();
  if (!cert_pem.ok()) return cert_pem.error();
  FERRY_TRY(WriteFileAtomically(key_path, key_pem.value(), 0600));
  FERRY_TRY(WriteFileAtomically(cert_path, cert_pem.value(), 0644));
  spdlog::info("generated a new CA root in {} (serial {})", settings.ca_dir.string(),
               identity::SerialHex(ca->signing_certificate()));
  return Finish(std::move(ca).value(), "");
}

}  // namespace

Result<ControllerCa> LoadOrCreateCa(const CaSettings& settings) {
  if (settings.leaf_ttl.count() <= 0) return MakeError("certificate TTL must be positive", EINVAL);
  const bool operator_ca = !settings.ca_cert.empty() || !settings.ca_key.empty();
  if (operator_ca && (settings.ca_cert.empty() || settings.ca_key.empty())) {
    return MakeError("--ca-cert and --ca-key go together", EINVAL);
  }
  if (!operator_ca && !settings.ca_extra_roots.empty()) {
    return MakeError("--ca-extra-roots needs --ca-cert/--ca-key", EINVAL);
  }
  if (!operator_ca && settings.ca_dir.empty()) {
    return MakeError("no CA: give --ca-cert/--ca-key, or --ca-dir for a root the controller generates and keeps",
                     EINVAL);
  }
  CaOptions options{.trust_domain = settings.trust_domain, .leaf_ttl = settings.leaf_ttl};
  if (operator_ca) return LoadOperatorCa(settings, std::move(options));
  return LoadOrCreateGeneratedCa(settings, std::move(options));
}

Result<std::chrono::seconds> ParseDuration(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  const std::string_view unit(end, static_cast<size_t>(text.data() + text.size() - end));
  uint64_t scale = 0;
  if (unit == "s") scale = 1;
  if (unit == "m") scale = 60;
  if (unit == "h") scale = 3600;
  if (unit == "d") scale = 86400;
  constexpr uint64_t kMaxSeconds = 100ull * 365 * 86400;  // beyond any sane certificate
  if (ec != std::errc() || end == text.data() || scale == 0 || value == 0 || value > kMaxSeconds / scale) {
    return MakeError("duration \"" + std::string(text) + "\" is not a positive whole number with s, m, h or d (e.g. 24h)");
  }
  return std::chrono::seconds(static_cast<int64_t>(value * scale));
}

}  // namespace ferry::controlplane
