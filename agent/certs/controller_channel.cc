#include "agent/certs/controller_channel.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <sys/stat.h>

#include <cerrno>
#include <mutex>

#include "identity/pem.h"
#include "identity/trust_bundle.h"

namespace ferry::certs {
namespace {

constexpr size_t kMaxTokenBytes = 64 * 1024;

// Adds the node credential to every call. gRPC only runs call credentials over a channel with
// privacy and integrity (TLS), so the token never goes out in the clear.
class BearerTokenPlugin final : public grpc::MetadataCredentialsPlugin {
 public:
  explicit BearerTokenPlugin(NodeTokenSource source) : source_(std::move(source)) {}

  const char* GetType() const override { return "ferry-node-token"; }

  grpc::Status GetMetadata(grpc::string_ref /*service_url*/, grpc::string_ref /*method_name*/,
                           const grpc::AuthContext& /*channel_auth_context*/,
                           std::multimap<std::string, std::string>* metadata) override {
    Result<std::string> token = source_();
    if (!token.ok()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "node token: " + token.error().Message());
    }
    metadata->emplace("authorization", "Bearer " + token.value());
    return grpc::Status::OK;
  }

 private:
  NodeTokenSource source_;
};

std::string_view Trim(std::string_view s) {
  const char* kSpace = " \t\r\n\f\v";
  size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  size_t end = s.find_last_not_of(kSpace);
  return s.substr(begin, end - begin + 1);
}

// A header value must be visible ASCII; a token with spaces or control bytes is a broken file.
Result<void> ValidateToken(std::string_view token) {
  if (token.empty()) return MakeError("node token is empty", EINVAL);
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) return MakeError("node token contains a non-printable or space character", EINVAL);
  }
  return Ok();
}

Result<struct stat> StatTokenFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoError("stat node token file " + path);
  if (!S_ISREG(st.st_mode)) return MakeError("node token file " + path + " is not a regular file", EINVAL);
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return MakeError("node token file " + path + " is accessible by group or others (chmod 600 it)", EPERM);
  }
  if (static_cast<size_t>(st.st_size) > kMaxTokenBytes) {
    return MakeError("node token file " + path + " is larger than 64 KiB", EFBIG);
  }
  return st;
}

}  // namespace

std::shared_ptr<grpc::ChannelCredentials> MakeControllerCredentials(const std::string& trust_bundle_pem,
                                                                    NodeTokenSource token_source) {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = trust_bundle_pem;
  auto call = grpc::MetadataCredentialsFromPlugin(std::make_unique<BearerTokenPlugin>(std::move(token_source)));
  return grpc::CompositeChannelCredentials(grpc::SslCredentials(tls), call);
}

std::shared_ptr<grpc::Channel> MakeControllerChannel(const std::string& address, const std::string& trust_bundle_pem,
                                                     const std::string& node_token) {
  return MakeControllerChannel(address, trust_bundle_pem, FixedNodeTokenSource(node_token), grpc::ChannelArguments());
}

std::shared_ptr<grpc::Channel> MakeControllerChannel(const std::string& address, const std::string& trust_bundle_pem,
                                                     NodeTokenSource token_source,
                                                     const grpc::ChannelArguments& args) {
  grpc::ChannelArguments with_name = args;
  with_name.SetSslTargetNameOverride(kControllerTlsName);
  return grpc::CreateCustomChannel(address, MakeControllerCredentials(trust_bundle_pem, std::move(token_source)),
                                   with_name);
}

ControllerChannelFactory MakeControllerChannelFactory(std::string trust_bundle_pem, NodeTokenSource token_source) {
  return [bundle = std::move(trust_bundle_pem), source = std::move(token_source)](
             const std::string& address, const grpc::ChannelArguments& args) {
    return MakeControllerChannel(address, bundle, source, args);
  };
}

Result<std::string> ReadNodeTokenFile(const std::string& path) {
  FERRY_TRY(StatTokenFile(path));
  Result<std::string> text = identity::ReadTextFile(path);
  if (!text.ok()) return text.error();
  std::string token(Trim(text.value()));
  if (Result<void> valid = ValidateToken(token); !valid.ok()) {
    return MakeError(valid.error().context + " (" + path + ")", valid.error().code);
  }
  return token;
}

NodeTokenSource FileNodeTokenSource(std::string path) {
  struct Cache {
    std::mutex mu;
    std::string token;
    struct timespec mtime {};
    off_t size = -1;
  };
  auto cache = std::make_shared<Cache>();
  return [path = std::move(path), cache]() -> Result<std::string> {
    std::lock_guard lock(cache->mu);
    Result<struct stat> st = StatTokenFile(path);
    if (st.ok() && !cache->token.empty() && st->st_size == cache->size &&
        st->st_mtim.tv_sec == cache->mtime.tv_sec && st->st_mtim.tv_nsec == cache->mtime.tv_nsec) {
      return cache->token;
    }
    Result<std::string> token = ReadNodeTokenFile(path);
    if (!token.ok()) {
      // A rotation caught half-written: the previous token is still the best we have.
      if (!cache->token.empty()) return cache->token;
      return token.error();
    }
    cache->token = token.value();
    if (st.ok()) {
      cache->mtime = st->st_mtim;
      cache->size = st->st_size;
    }
    return token;
  };
}

NodeTokenSource FixedNodeTokenSource(std::string token) {
  return [token = std::move(token)]() -> Result<std::string> {
    FERRY_TRY(ValidateToken(token));
    return token;
  };
}

Result<std::string> ReadTrustBundleFile(const std::string& path) {
  Result<std::string> pem = identity::ReadTextFile(path);
  if (!pem.ok()) return pem.error();
  Result<identity::TrustBundle> bundle = identity::TrustBundle::FromPem(pem.value());
  if (!bundle.ok()) return MakeError("trust bundle " + path + ": " + bundle.error().Message(), EINVAL);
  return pem;
}

}  // namespace ferry::certs
