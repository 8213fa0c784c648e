// The agent's only way to reach the controller: gRPC over TLS, verified against the mesh trust
// bundle under the controller's fixed TLS name, with every call carrying the node's credential
// as "authorization: Bearer <token>". There is no insecure variant.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/result.h"

namespace grpc {
class Channel;
class ChannelArguments;
class ChannelCredentials;
}  // namespace grpc

namespace ferry::certs {

// The DNS name the controller's serving certificate carries, whatever address it is reached at
// (pod IP, service VIP, 127.0.0.1 in local mode).
inline constexpr char kControllerTlsName[] = "ferry-controller";

// Yields the current node token for each call (lets a rotating token file be re-read).
using NodeTokenSource = std::function<Result<std::string>()>;

// TLS (roots = `trust_bundle_pem`) composed with per-call "authorization: Bearer" metadata.
std::shared_ptr<grpc::ChannelCredentials> MakeControllerCredentials(const std::string& trust_bundle_pem,
                                                                    NodeTokenSource token_source);

// A channel to `address` ("host:port"). `args` may carry the caller's own settings; the TLS
// target name override is added here.
std::shared_ptr<grpc::Channel> MakeControllerChannel(const std::string& address,
                                                     const std::string& trust_bundle_pem,
                                                     const std::string& node_token);
std::shared_ptr<grpc::Channel> MakeControllerChannel(const std::string& address,
                                                     const std::string& trust_bundle_pem,
                                                     NodeTokenSource token_source,
                                                     const grpc::ChannelArguments& args);

// For clients that open a fresh channel per connection attempt (xds::PolicyClient's
// ChannelFactory has this signature).
using ControllerChannelFactory =
    std::function<std::shared_ptr<grpc::Channel>(const std::string& address, const grpc::ChannelArguments& args)>;
ControllerChannelFactory MakeControllerChannelFactory(std::string trust_bundle_pem, NodeTokenSource token_source);

// Reads a node token file: surrounding whitespace is trimmed; refuses a missing, non-regular,
// empty, oversized or group/world-accessible file, and tokens that are not printable ASCII
// (they travel as an HTTP/2 header value).
Result<std::string> ReadNodeTokenFile(const std::string& path);
// A token source that re-reads `path` when its modification time or size changes (projected
// Kubernetes tokens are rotated in place) and keeps the last good token if a re-read fails.
NodeTokenSource FileNodeTokenSource(std::string path);
NodeTokenSource FixedNodeTokenSource(std::string token);

// Reads the trust bundle (one or more self-signed CA certificates, PEM); validates it.
Result<std::string> ReadTrustBundleFile(const std::string& path);

}  // namespace ferry::certs
