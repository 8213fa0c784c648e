// Node authentication for the controller's gRPC API: every call carries
// "authorization: Bearer <token>", and the token names the node (local mode: the tokens
// `ferryctl local up` wrote). The check runs in a gRPC AuthMetadataProcessor, so it covers
// every service on the port, present and future: a call without a known token never reaches a
// handler. Handlers learn the node with NodeAuthenticator::NodeOfCall().
//
// The node is not stored as an AuthContext property: gRPC shares that context among all calls
// of a connection, so a property set for one call would be seen by the next (possibly carrying
// another node's token). Each call is judged by its own metadata instead.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/auth_metadata_processor.h>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace ferry::controlplane {

// node name -> token, from JSON {"node-1": "<token>", ...}. Tokens must be non-empty and unique
// (a token shared by two nodes could not say which node is calling).
using NodeTokens = std::map<std::string, std::string>;
Result<NodeTokens> ParseNodeTokens(std::string_view json, const std::string& source);

class NodeAuthenticator {
 public:
  // Reads `path`; fails when it is unreadable, malformed or names no node.
  static Result<std::shared_ptr<NodeAuthenticator>> FromFile(std::filesystem::path path);
  explicit NodeAuthenticator(NodeTokens tokens, std::filesystem::path path = {});

  // Re-reads the file (SIGHUP, manifest reloads); on error the previous tokens stay in force
  // and the error is returned for the log. A no-op without a file.
  Result<void> Reload();

  // The node whose token is `token`, comparing in constant time against every token.
  std::optional<std::string> NodeForToken(std::string_view token) const;
  // The same from an "authorization" metadata value ("Bearer <token>").
  std::optional<std::string> NodeForAuthorization(std::string_view header) const;
  // The node of a server call: exactly one "authorization" header with a known bearer token.
  std::optional<std::string> NodeOfCall(const grpc::ServerContextBase& context) const;

  size_t node_count() const;

 private:
  std::filesystem::path path_;
  mutable std::mutex mu_;
  // Stored as SHA-256 digests: comparing fixed-length digests leaks neither content nor length.
  std::map<std::string, std::string> digests_;  // node -> digest
};

// Rejects (UNAUTHENTICATED) every call without exactly one valid bearer token.
class TokenAuthProcessor final : public grpc::AuthMetadataProcessor {
 public:
  explicit TokenAuthProcessor(std::shared_ptr<const NodeAuthenticator> authenticator)
      : authenticator_(std::move(authenticator)) {}

  bool IsBlocking() const override { return false; }  // an in-memory lookup: run it inline
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata, OutputMetadata* response_metadata) override;

 private:
  std::shared_ptr<const NodeAuthenticator> authenticator_;
};

}  // namespace ferry::controlplane
