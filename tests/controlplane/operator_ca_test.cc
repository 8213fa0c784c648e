// The controller with an operator's CA loaded from files: an intermediate under the operator's
// root signs the leaves and the controller's own serving certificate; agents trust the root only.
#include <gtest/gtest.h>
#include <openssl/x509.h>

#include "controller_fixture.h"
#include "ferry/v1/certificate.grpc.pb.h"
#include "identity/cert_factory.h"
#include "identity/csr.h"
#include "identity/pem.h"
#include "identity/trust_bundle.h"
#include "identity/x509_inspect.h"
#include "secure_channel.h"
#include "test_manifests.h"
#include "test_result.h"

namespace ferry::controlplane {
namespace {

using namespace testing;  // NOLINT
using namespace std::chrono_literals;  // NOLINT
namespace idt = identity::testing;

class OperatorCaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.Write("shop.yaml", Docs({Namespace("shop")}));
    dir_.Write(".ferry/workloads.json",
               R"([{"name": "api-0", "namespace": "shop", "serviceAccount": "api", "node": "node-1"}])");
    options_ = TestControllerOptions(dir_);
    options_.ca.ca_dir.clear();  // nothing generated: the operator's CA only
  }

  // Writes `pem` outside the watched manifest directory's YAML and returns its path.
  std::filesystem::path WritePem(const std::string& name, const std::string& pem) {
    dir_.Write("pki/" + name, pem);
    return dir_.path() / "pki" / name;
  }

  std::string CsrForApi() {
    identity::WorkloadKey key = identity::WorkloadKey::Generate().value();
    return key.CreateCsrPem(identity::SpiffeId::Make("cluster.local", "shop", "api").value()).value();
  }

  TempDir dir_;
  ControllerOptions options_;
  identity::SystemTime now_ = std::chrono::system_clock::now();
};

TEST_F(OperatorCaTest, IntermediateUnderARootSignsLeavesThatChainToTheRoot) {
  idt::KeyedCert root = idt::MakeCa(now_, "operator root");
  idt::KeyedCert intermediate = idt::MakeCa(now_, "ferry intermediate", &root);
  options_.ca.ca_cert = WritePem("ca.pem", idt::ToPem(intermediate.cert.get()) + idt::ToPem(root.cert.get()));
  options_.ca.ca_key = WritePem("ca.key", idt::ToPem(intermediate.key.get()));
  Result<std::unique_ptr<Controller>> controller = Controller::Start(std::move(options_));
  ASSERT_OK(controller);
  const std::string root_pem = idt::ToPem(root.cert.get());
  EXPECT_EQ(controller.value()->ca().trust_bundle_pem, root_pem);  // agents trust the root only

  // The TLS handshake verifies against the root: the serving chain carries the intermediate.
  std::shared_ptr<grpc::Channel> channel = TlsChannel(controller.value()->address(), root_pem);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 30s);
  AddBearer(context, TestToken("node-1"));
  v1::SignCertificateRequest request;
  request.set_csr_pem(CsrForApi());
  v1::SignCertificateResponse response;
  grpc::Status status = v1::CertificateService::NewStub(channel)->SignCertificate(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.trust_bundle_pem(), root_pem);
  EXPECT_EQ(response.chain_pem(), idt::ToPem(intermediate.cert.get()));

  // leaf -> intermediate (sent as chain) -> root (the bundle).
  identity::UniqueX509 leaf = idt::FromPem(response.certificate_pem());
  identity::UniqueX509Store store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), root.cert.get());
  identity::UniqueX509Stack chain = idt::StackOf({idt::FromPem(response.chain_pem()).get()});
  identity::UniqueX509StoreCtx ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), chain.get());
  EXPECT_EQ(X509_verify_cert(ctx.get()), 1) << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(leaf.get()), X509_get_subject_name(intermediate.cert.get())), 0);
}

TEST_F(OperatorCaTest, ExtraRootsJoinTheTrustBundle) {
  idt::KeyedCert root = idt::MakeCa(now_, "operator root");
  idt::KeyedCert next_root = idt::MakeCa(now_, "next operator root");
  options_.ca.ca_cert = WritePem("ca.pem", idt::ToPem(root.cert.get()));
  options_.ca.ca_key = WritePem("ca.key", idt::ToPem(root.key.get()));
  options_.ca.ca_extra_roots = WritePem("extra.pem", idt::ToPem(next_root.cert.get()));
  Result<std::unique_ptr<Controller>> controller = Controller::Start(std::move(options_));
  ASSERT_OK(controller);
  Result<identity::TrustBundle> bundle = identity::TrustBundle::FromPem(controller.value()->ca().trust_bundle_pem);
  ASSERT_OK(bundle);
  EXPECT_EQ(bundle->roots().size(), 2u);
}

TEST_F(OperatorCaTest, RefusesAnIntermediateWithoutItsRootOrAMismatchedKey) {
  idt::KeyedCert root = idt::MakeCa(now_, "operator root");
  idt::KeyedCert intermediate = idt::MakeCa(now_, "ferry intermediate", &root);
  ControllerOptions orphan = TestControllerOptions(dir_);
  orphan.ca.ca_dir.clear();
  orphan.ca.ca_cert = WritePem("orphan.pem", idt::ToPem(intermediate.cert.get()));
  orphan.ca.ca_key = WritePem("orphan.key", idt::ToPem(intermediate.key.get()));
  Result<std::unique_ptr<Controller>> c = Controller::Start(std::move(orphan));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().Message().find("no root"), std::string::npos) << c.error().Message();

  options_.ca.ca_cert = WritePem("root.pem", idt::ToPem(root.cert.get()));
  options_.ca.ca_key = WritePem("other.key", idt::ToPem(intermediate.key.get()));
  EXPECT_ERR(Controller::Start(std::move(options_)));
}

}  // namespace
}  // namespace ferry::controlplane
