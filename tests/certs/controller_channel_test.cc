// The agent's controller channel against an in-process gRPC server over TLS: the node token
// arrives as bearer metadata, and a server the trust bundle does not vouch for (other CA, other
// name) is never talked to. Also the token and bundle file loaders.
#include "agent/certs/controller_channel.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "agent/certs/certificate_signer.h"
#include "ferry/v1/certificate.grpc.pb.h"
#include "identity/x509_inspect.h"
#include "test_result.h"
#include "tests/identity/cert_factory.h"

namespace ferry::certs {
namespace {

using namespace std::chrono_literals;
namespace idt = identity::testing;

// Echoes what it received so the test sees it from the client: the authorization metadata in
// spiffe_id, the CSR in certificate_pem.
class EchoCertificateService final : public v1::CertificateService::Service {
 public:
  grpc::Status SignCertificate(grpc::ServerContext* context, const v1::SignCertificateRequest* request,
                               v1::SignCertificateResponse* response) override {
    ++calls;
    const auto& metadata = context->client_metadata();
    auto it = metadata.find("authorization");
    if (it != metadata.end()) response->set_spiffe_id(std::string(it->second.data(), it->second.size()));
    response->set_certificate_pem(request->csr_pem());
    response->set_not_after_unix(request->ttl_seconds());
    return grpc::Status::OK;
  }
  std::atomic<int> calls = 0;
};

// A TLS gRPC server on 127.0.0.1 whose certificate names `dns_name`, issued by its own CA.
class TlsControllerServer {
 public:
  explicit TlsControllerServer(const std::string& dns_name = kControllerTlsName) {
    const auto now = std::chrono::system_clock::now();
    ca_ = idt::MakeCa(now, "certs test controller CA");
    idt::CertSpec spec;
    spec.common_name = dns_name;
    spec.dns_names = {dns_name};
    spec.ext_key_usage = "serverAuth";
    spec.not_before = now - 1h;
    spec.not_after = now + 1h;
    auto key = idt::MakeEcKey();
    auto cert = idt::MakeCert(spec, key.get(), &ca_);
    grpc::SslServerCredentialsOptions tls;
    tls.pem_key_cert_pairs.push_back({idt::ToPem(key.get()), idt::ToPem(cert.get())});
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~TlsControllerServer() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + 2s);
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string ca_pem() const { return idt::ToPem(ca_.cert.get()); }
  int calls() const { return service_.calls; }
  bool running() const { return server_ != nullptr && port_ > 0; }

 private:
  idt::KeyedCert ca_;
  EchoCertificateService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

std::string UnrelatedCaPem() {
  auto ca = idt::MakeCa(std::chrono::system_clock::now(), "somebody else's CA");
  return idt::ToPem(ca.cert.get());
}

TEST(ControllerChannel, NodeTokenArrivesAsBearerMetadataOverTls) {
  TlsControllerServer server;
  ASSERT_TRUE(server.running());
  GrpcCertificateSigner signer(MakeControllerChannel(server.address(), server.ca_pem(), "node-a.s3cr3t"));
  auto answer = signer.Sign("-----CSR-----", 120s);
  ASSERT_OK(answer);
  EXPECT_EQ(answer->spiffe_id, "Bearer node-a.s3cr3t");
  EXPECT_EQ(answer->certificate_pem, "-----CSR-----");
  EXPECT_EQ(answer->lifetime.not_after, identity::SystemTime(120s)) << "ttl_seconds was sent";
  EXPECT_EQ(server.calls(), 1);
}

TEST(ControllerChannel, ServerNotSignedByTheBundleIsNeverCalled) {
  TlsControllerServer server;
  ASSERT_TRUE(server.running());
  GrpcCertificateSigner signer(MakeControllerChannel(server.address(), UnrelatedCaPem(), "node-a.s3cr3t"), 5s);
  auto answer = signer.Sign("csr", 0s);
  ASSERT_FALSE(answer.ok());
  EXPECT_NE(answer.error().context.find("UNAVAILABLE"), std::string::npos) << answer.error().context;
  EXPECT_EQ(answer.error().code, ECONNREFUSED);
  EXPECT_EQ(server.calls(), 0) << "the token must not reach an unverified server";
}

TEST(ControllerChannel, ServerCertificateForAnotherNameIsRefused) {
  TlsControllerServer server("not-the-controller.example");
  ASSERT_TRUE(server.running());
  GrpcCertificateSigner signer(MakeControllerChannel(server.address(), server.ca_pem(), "node-a.s3cr3t"), 5s);
  auto answer = signer.Sign("csr", 0s);
  ASSERT_FALSE(answer.ok());
  EXPECT_NE(answer.error().context.find("UNAVAILABLE"), std::string::npos) << answer.error().context;
  EXPECT_EQ(server.calls(), 0);
}

TEST(ControllerChannel, InvalidTokenFailsTheCallWithoutSendingIt) {
  TlsControllerServer server;
  ASSERT_TRUE(server.running());
  GrpcCertificateSigner signer(MakeControllerChannel(server.address(), server.ca_pem(), "two words"), 5s);
  auto answer = signer.Sign("csr", 0s);
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(server.calls(), 0);
}

// A private directory for token files, removed at the end.
class ControllerFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/certs-token-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& content, mode_t mode = 0600) {
    std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::trunc) << content;
    ::chmod(path.c_str(), mode);
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(ControllerFiles, TokenFileIsTrimmed) {
  auto token = ReadNodeTokenFile(Write("token", "  abc.def-ghi_123\n"));
  ASSERT_OK(token);
  EXPECT_EQ(token.value(), "abc.def-ghi_123");
}

TEST_F(ControllerFiles, TokenFileReadableByOthersIsRefused) {
  auto token = ReadNodeTokenFile(Write("token", "abc", 0644));
  ASSERT_FALSE(token.ok());
  EXPECT_NE(token.error().context.find("group or others"), std::string::npos) << token.error().Message();
  EXPECT_ERR(ReadNodeTokenFile(Write("token-g", "abc", 0640)));
}

TEST_F(ControllerFiles, EmptyMissingOrMalformedTokenIsRefused) {
  EXPECT_ERR(ReadNodeTokenFile(Write("empty", "")));
  EXPECT_ERR(ReadNodeTokenFile(Write("blank", " \n\t\n")));
  EXPECT_ERR(ReadNodeTokenFile(Write("spaces", "two words")));
  EXPECT_ERR(ReadNodeTokenFile(Write("newline", "line1\nline2")));
  EXPECT_ERR(ReadNodeTokenFile((dir_ / "missing").string()));
  EXPECT_ERR(ReadNodeTokenFile(dir_.string()));
}

TEST_F(ControllerFiles, RotatedTokenFileIsPickedUpByTheNextCall) {
  TlsControllerServer server;
  ASSERT_TRUE(server.running());
  const std::string path = Write("token", "first-token\n");
  auto factory = MakeControllerChannelFactory(server.ca_pem(), FileNodeTokenSource(path));
  GrpcCertificateSigner signer(factory(server.address(), grpc::ChannelArguments()));
  auto first = signer.Sign("csr", 0s);
  ASSERT_OK(first);
  EXPECT_EQ(first->spiffe_id, "Bearer first-token");

  Write("token", "second-token-longer\n");
  auto second = signer.Sign("csr", 0s);
  ASSERT_OK(second);
  EXPECT_EQ(second->spiffe_id, "Bearer second-token-longer");
}

TEST_F(ControllerFiles, TrustBundleFileIsValidated) {
  const std::string pem = UnrelatedCaPem();
  auto bundle = ReadTrustBundleFile(Write("ca.pem", pem, 0644));
  ASSERT_OK(bundle);
  EXPECT_EQ(bundle.value(), pem);
  EXPECT_ERR(ReadTrustBundleFile(Write("junk.pem", "not a certificate")));
  EXPECT_ERR(ReadTrustBundleFile((dir_ / "missing.pem").string()));
}

}  // namespace
}  // namespace ferry::certs
