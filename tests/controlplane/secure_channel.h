// Reaching a test Controller the way an agent must: TLS verified against the controller's trust
// bundle under the name "ferry-controller", and "authorization: Bearer <node token>" metadata.
// TestControllerOptions (controller_fixture.h) gives every controller a generated CA in
// <dir>/.ferry-ca and the tokens of TestNodes() in <dir>/.ferry-node-tokens.json.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "controlplane/server/controller.h"

namespace ferry::controlplane::testing {

// Nodes that have a token in every test controller.
const std::vector<std::string>& TestNodes();
std::string TestToken(const std::string& node);
// Writes {"<node>": TestToken(node)} for TestNodes() to `path` (0600).
void WriteTestNodeTokens(const std::filesystem::path& path);

// TLS to `address`, trusting `trust_bundle_pem`, checking the name "ferry-controller"; no token.
std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address, const std::string& trust_bundle_pem);
// The same channel, for `controller`.
std::shared_ptr<grpc::Channel> TlsChannel(const Controller& controller);
// TLS plus `node`'s token on every call, as the agent's channel does.
std::shared_ptr<grpc::Channel> NodeChannel(const Controller& controller, const std::string& node);

// For xds::PolicyClientOptions::channel_factory: TLS plus `node`'s token, keeping the client's
// channel arguments.
std::function<std::shared_ptr<grpc::Channel>(const std::string&, const grpc::ChannelArguments&)> NodeChannelFactory(
    const std::string& node, const std::string& trust_bundle_pem);

// Adds "authorization: Bearer <token>" to one call.
void AddBearer(grpc::ClientContext& context, const std::string& token);

}  // namespace ferry::controlplane::testing
