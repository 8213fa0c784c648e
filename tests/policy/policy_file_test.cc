// Standalone --policy-file mode: the bad resource is dropped and reported, the rest applies.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/policy/policy_file.h"
#include "agent/policy/policy_store.h"

namespace ferry::policy {
namespace {

class PolicyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() / ("ferry-policy-file-test-" + std::to_string(getpid()) + ".yaml");
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::filesystem::path path_;
};

TEST_F(PolicyFile, BadResourceIsDroppedAndReportedTheRestApplies) {
  std::ofstream(path_) << R"(
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: db-port, namespace: shop}
spec: {matches: {ports: [5432]}}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: db-access, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: db}
  rules: [{kind: TCPRoute, name: db-port}]
  sources: [{kind: ServiceAccount, name: api}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: typo, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: cache}
  rules: [{kind: TCPRoute, name: db-prot}]
  sources: [{kind: ServiceAccount, name: api}]
)";
  smi::MeshOptions mesh;
  mesh.trust_domain = "local.test";
  Result<smi::CompileResult> loaded = LoadPolicyFile(path_, mesh);
  ASSERT_TRUE(loaded.ok()) << loaded.error().Message();
  ASSERT_EQ(loaded->rejections.size(), 1u);
  EXPECT_NE(loaded->rejections[0].ToString().find("TrafficTarget shop/typo rejected"), std::string::npos);
  EXPECT_NE(loaded->rejections[0].ToString().find(path_.string()), std::string::npos);

  PolicyStore store;
  EXPECT_EQ(store.Apply(std::move(loaded->snapshot)), 1u);
  EXPECT_EQ(store.Current()->snapshot().mesh().trust_domain(), "local.test");
  EXPECT_TRUE(store.Current()->EvaluateL4({"shop", "api"}, {"shop", "db"}, 5432).allow);
  EXPECT_FALSE(store.Current()->EvaluateL4({"shop", "api"}, {"shop", "cache"}, 5432).allow);
}

TEST_F(PolicyFile, MissingFileIsAnError) {
  Result<smi::CompileResult> loaded = LoadPolicyFile(path_, smi::MeshOptions{});
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().Message().find(path_.string()), std::string::npos);
}

}  // namespace
}  // namespace ferry::policy
