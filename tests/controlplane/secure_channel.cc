#include "secure_channel.h"

#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>

namespace ferry::controlplane::testing {
namespace {

class StaticBearer final : public grpc::MetadataCredentialsPlugin {
 public:
  explicit StaticBearer(std::string token) : token_(std::move(token)) {}
  grpc::Status GetMetadata(grpc::string_ref, grpc::string_ref, const grpc::AuthContext&,
                           std::multimap<std::string, std::string>* metadata) override {
    metadata->emplace("authorization", "Bearer " + token_);
    return grpc::Status::OK;
  }

 private:
  std::string token_;
};

grpc::ChannelArguments ControllerArgs() {
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("ferry-controller");
  args.SetMaxReceiveMessageSize(kMaxPolicyMessageBytes);
  // Each channel its own connection, so tests do not share TLS sessions or auth state.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return args;
}

}  // namespace

std::shared_ptr<grpc::ChannelCredentials> NodeCredentials(const std::string& node, const std::string& trust_bundle_pem);

const std::vector<std::string>& TestNodes() {
  static const std::vector<std::string> kNodes = {"node-a", "node-b", "node-1", "node-2"};
  return kNodes;
}

std::string TestToken(const std::string& node) { return "test-token-of-" + node; }

void WriteTestNodeTokens(const std::filesystem::path& path) {
  nlohmann::json tokens = nlohmann::json::object();
  for (const std::string& node : TestNodes()) tokens[node] = TestToken(node);
  std::filesystem::create_directories(path.parent_path());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << tokens.dump();
  }
  ::chmod(path.c_str(), 0600);
}

std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address, const std::string& trust_bundle_pem) {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = trust_bundle_pem;
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(tls), ControllerArgs());
}

std::shared_ptr<grpc::Channel> TlsChannel(const Controller& controller) {
  return TlsChannel(controller.address(), controller.ca().trust_bundle_pem);
}

std::shared_ptr<grpc::ChannelCredentials> NodeCredentials(const std::string& node, const std::string& trust_bundle_pem) {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = trust_bundle_pem;
  auto call = grpc::MetadataCredentialsFromPlugin(std::make_unique<StaticBearer>(TestToken(node)));
  return grpc::CompositeChannelCredentials(grpc::SslCredentials(tls), call);
}

std::shared_ptr<grpc::Channel> NodeChannel(const Controller& controller, const std::string& node) {
  return grpc::CreateCustomChannel(controller.address(), NodeCredentials(node, controller.ca().trust_bundle_pem),
                                   ControllerArgs());
}

std::function<std::shared_ptr<grpc::Channel>(const std::string&, const grpc::ChannelArguments&)> NodeChannelFactory(
    const std::string& node, const std::string& trust_bundle_pem) {
  return [node, trust_bundle_pem](const std::string& address, const grpc::ChannelArguments& client_args) {
    grpc::ChannelArguments args = client_args;
    args.SetSslTargetNameOverride("ferry-controller");
    return grpc::CreateCustomChannel(address, NodeCredentials(node, trust_bundle_pem), args);
  };
}

void AddBearer(grpc::ClientContext& context, const std::string& token) {
  context.AddMetadata("authorization", "Bearer " + token);
}

}  // namespace ferry::controlplane::testing
