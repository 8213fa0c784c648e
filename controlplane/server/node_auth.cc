#include "controlplane/server/node_auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

namespace ferry::controlplane {
namespace {

constexpr std::string_view kBearerPrefix = "Bearer ";
constexpr char kAuthorization[] = "authorization";

// The one authorization header of a call; nullopt when absent or repeated (ambiguous).
template <typename Multimap>
std::optional<std::string_view> SingleAuthorization(const Multimap& metadata) {
  auto [first, last] = metadata.equal_range(kAuthorization);
  if (first == last || std::next(first) != last) return std::nullopt;
  return std::string_view(first->second.data(), first->second.size());
}

std::string Digest(std::string_view token) {
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(),
         reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::map<std::string, std::string> DigestAll(const NodeTokens& tokens) {
  std::map<std::string, std::string> digests;
  for (const auto& [node, token] : tokens) digests[node] = Digest(token);
  return digests;
}

Result<std::string> ReadTokenFile(const std::filesystem::path& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return ErrnoError("node tokens " + path.string());
  // Anyone who can read the file can act as every node; say so rather than refuse, since the
  // operator may have a reason (e.g. a group-readable Secret mount).
  if ((st.st_mode & 0077) != 0) {
    spdlog::warn("node tokens file {} is readable by group/others (mode {:o}); it should be 0600", path.string(),
                 st.st_mode & 0777);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError("open node tokens " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return ErrnoError("read node tokens " + path.string());
  return text.str();
}

}  // namespace

Result<NodeTokens> ParseNodeTokens(std::string_view text, const std::string& source) {
  nlohmann::json root = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    return MakeError(source + ": expected a JSON object {\"<node>\": \"<token>\", ...}", EINVAL);
  }
  NodeTokens tokens;
  std::set<std::string> seen;
  for (const auto& [node, value] : root.items()) {
    if (node.empty()) return MakeError(source + ": empty node name", EINVAL);
    if (!value.is_string() || value.get<std::string>().empty()) {
      return MakeError(source + ": the token of node \"" + node + "\" must be a non-empty string", EINVAL);
    }
    const std::string token = value.get<std::string>();
    if (!seen.insert(token).second) {
      return MakeError(source + ": node \"" + node + "\" shares its token with another node", EINVAL);
    }
    tokens[node] = token;
  }
  if (tokens.empty()) return MakeError(source + ": names no node", EINVAL);
  return tokens;
}

Result<std::shared_ptr<NodeAuthenticator>> NodeAuthenticator::FromFile(std::filesystem::path path) {
  Result<std::string> text = ReadTokenFile(path);
  if (!text.ok()) return text.error();
  Result<NodeTokens> tokens = ParseNodeTokens(text.value(), path.string());
  if (!tokens.ok()) return tokens.error();
  return std::make_shared<NodeAuthenticator>(std::move(tokens).value(), std::move(path));
}

NodeAuthenticator::NodeAuthenticator(NodeTokens tokens, std::filesystem::path path)
    : path_(std::move(path)), digests_(DigestAll(tokens)) {}

Result<void> NodeAuthenticator::Reload() {
  if (path_.empty()) return Ok();
  Result<std::string> text = ReadTokenFile(path_);
  if (!text.ok()) return text.error();
  Result<NodeTokens> tokens = ParseNodeTokens(text.value(), path_.string());
  if (!tokens.ok()) return tokens.error();
  std::map<std::string, std::string> digests = DigestAll(tokens.value());
  std::lock_guard lock(mu_);
  digests_ = std::move(digests);
  return Ok();
}

std::optional<std::string> NodeAuthenticator::NodeForToken(std::string_view token) const {
  if (token.empty()) return std::nullopt;
  const std::string digest = Digest(token);
  std::optional<std::string> match;
  std::lock_guard lock(mu_);
  // Every entry is compared, so the time taken does not say which node (or whether any) matched.
  for (const auto& [node, expected] : digests_) {
    if (CRYPTO_memcmp(digest.data(), expected.data(), digest.size()) == 0) match = node;
  }
  return match;
}

std::optional<std::string> NodeAuthenticator::NodeForAuthorization(std::string_view header) const {
  if (header.substr(0, kBearerPrefix.size()) != kBearerPrefix) return std::nullopt;
  return NodeForToken(header.substr(kBearerPrefix.size()));
}

std::optional<std::string> NodeAuthenticator::NodeOfCall(const grpc::ServerContextBase& context) const {
  std::optional<std::string_view> header = SingleAuthorization(context.client_metadata());
  if (!header) return std::nullopt;
  return NodeForAuthorization(*header);
}

size_t NodeAuthenticator::node_count() const {
  std::lock_guard lock(mu_);
  return digests_.size();
}

grpc::Status TokenAuthProcessor::Process(const InputMetadata& auth_metadata, grpc::AuthContext* /*context*/,
                                         OutputMetadata* /*consumed*/, OutputMetadata* /*response*/) {
  if (auth_metadata.count(kAuthorization) == 0) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing \"authorization: Bearer <node token>\" metadata");
  }
  std::optional<std::string_view> header = SingleAuthorization(auth_metadata);
  if (!header) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "more than one authorization header");
  if (!authenticator_->NodeForAuthorization(*header)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown node token");
  }
  return grpc::Status::OK;
}

}  // namespace ferry::controlplane
