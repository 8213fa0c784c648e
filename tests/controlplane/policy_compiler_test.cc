// One reload from resources to policy: namespace membership, the rejection report, and keeping
// the last good version of a broken resource in force.
#include "controlplane/server/policy_compiler.h"

#include <gtest/gtest.h>

#include "controlplane/smi/parse.h"
#include "test_manifests.h"

namespace ferry::controlplane {
namespace {

using namespace testing;  // NOLINT

smi::ResourceSet Parse(const std::string& yaml, const std::string& file = "shop.yaml") {
  return smi::ParseManifests(yaml, file);
}

const v1::Authorization* FindAuth(const v1::PolicySnapshot& s, const std::string& name) {
  for (const auto& a : s.authorizations()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

TEST(PolicyCompiler, OnlyMonitoredNamespacesCount) {
  PolicyCompiler compiler(CompilerOptions{});
  CompiledPolicy p = compiler.Compile(
      Parse(Docs({Namespace("shop"), Namespace("other-mesh", "linkerd"), TcpRoute("db-port"),
                  Target("in-mesh"), TcpRoute("db-port", "other-mesh"), Target("elsewhere", "api", "db", "db-port", "other-mesh"),
                  BrokenTarget("broken-elsewhere", "other-mesh"), Target("unlabelled", "api", "db", "db-port", "default")})),
      WorkloadInventory{{}, {}});
  EXPECT_EQ(p.monitored_namespaces, std::set<std::string>{"shop"});
  // Agents learn the membership from the snapshot: they enroll exactly these namespaces' pods.
  EXPECT_TRUE(p.base.mesh().namespace_scoped());
  ASSERT_EQ(p.base.mesh().monitored_namespaces_size(), 1);
  EXPECT_EQ(p.base.mesh().monitored_namespaces(0), "shop");
  ASSERT_EQ(p.base.authorizations_size(), 1);
  EXPECT_EQ(p.base.authorizations(0).name(), "in-mesh");
  // Errors outside the mesh are not ours to report.
  EXPECT_TRUE(p.rejections.empty()) << p.rejections[0].Message();
}

TEST(PolicyCompiler, WorkloadsOutsideTheMeshAreLeftOut) {
  PolicyCompiler compiler(CompilerOptions{});
  v1::Workload in, out;
  in.set_uid("1"), in.set_name("api-0"), in.set_namespace_("shop"), in.set_node("node-a");
  out.set_uid("2"), out.set_name("web-0"), out.set_namespace_("default"), out.set_node("node-b");
  CompiledPolicy p = compiler.Compile(Parse(Namespace("shop")), WorkloadInventory{{in, out}, {}});
  ASSERT_EQ(p.base.workloads_size(), 1);
  EXPECT_EQ(p.base.workloads(0).name(), "api-0");
  EXPECT_EQ(p.nodes, std::set<std::string>{"node-a"});
}

TEST(PolicyCompiler, RejectedResourceKeepsItsLastGoodVersion) {
  PolicyCompiler compiler(CompilerOptions{});
  const std::string base = Docs({Namespace("shop"), TcpRoute("db-port")});
  CompiledPolicy good = compiler.Compile(Parse(base + "---\n" + Target("api-to-db")), {});
  ASSERT_NE(FindAuth(good.base, "api-to-db"), nullptr);

  CompiledPolicy broken = compiler.Compile(Parse(base + "---\n" + BrokenTarget("api-to-db")), {});
  const v1::Authorization* kept = FindAuth(broken.base, "api-to-db");
  ASSERT_NE(kept, nullptr) << "the previous version must stay in force";
  EXPECT_EQ(kept->SerializeAsString(), FindAuth(good.base, "api-to-db")->SerializeAsString());
  ASSERT_EQ(broken.rejections.size(), 1u);
  const std::string message = broken.rejections[0].Message();
  EXPECT_NE(message.find("shop.yaml"), std::string::npos) << message;
  EXPECT_NE(message.find("TrafficTarget shop/api-to-db"), std::string::npos) << message;
  EXPECT_NE(message.find("stays in force"), std::string::npos) << message;
  EXPECT_TRUE(broken.rejections[0].kept_from.has_value());

  // Fixed again: the new version applies; deleted: it is gone (deletion is intent).
  CompiledPolicy fixed = compiler.Compile(Parse(base + "---\n" + Target("api-to-db", "web")), {});
  ASSERT_NE(FindAuth(fixed.base, "api-to-db"), nullptr);
  EXPECT_EQ(FindAuth(fixed.base, "api-to-db")->sources(0).name(), "web");
  EXPECT_TRUE(fixed.rejections.empty());
  CompiledPolicy deleted = compiler.Compile(Parse(base), {});
  EXPECT_EQ(FindAuth(deleted.base, "api-to-db"), nullptr);
}

TEST(PolicyCompiler, NewResourceThatIsInvalidIsSimplyAbsent) {
  PolicyCompiler compiler(CompilerOptions{});
  CompiledPolicy p = compiler.Compile(Parse(Docs({Namespace("shop"), TcpRoute("db-port"), BrokenTarget("t")})), {});
  EXPECT_EQ(p.base.authorizations_size(), 0);
  ASSERT_EQ(p.rejections.size(), 1u);
  EXPECT_FALSE(p.rejections[0].kept_from.has_value());
}

TEST(PolicyCompiler, YamlSyntaxErrorKeepsWhatTheFileHadBefore) {
  PolicyCompiler compiler(CompilerOptions{});
  const smi::ResourceSet ns = Parse(Namespace("shop"), "ns.yaml");
  smi::ResourceSet first = ns;
  first.Merge(Parse(Docs({TcpRoute("db-port"), Target("api-to-db")}), "policy.yaml"));
  ASSERT_EQ(compiler.Compile(std::move(first), {}).base.authorizations_size(), 1);

  smi::ResourceSet second = ns;
  second.Merge(Parse("kind: [unclosed\n", "policy.yaml"));  // the whole file is unreadable now
  CompiledPolicy p = compiler.Compile(std::move(second), {});
  ASSERT_NE(FindAuth(p.base, "api-to-db"), nullptr);
  ASSERT_EQ(p.rejections.size(), 1u);
  const std::string message = p.rejections[0].Message();
  EXPECT_NE(message.find("policy.yaml"), std::string::npos) << message;
  EXPECT_NE(message.find("TrafficTarget shop/api-to-db"), std::string::npos) << message;
}

TEST(PolicyCompiler, BrokenNamespaceManifestKeepsTheNamespaceInTheMesh) {
  PolicyCompiler compiler(CompilerOptions{});
  const std::string policy = Docs({TcpRoute("db-port"), Target("api-to-db")});
  ASSERT_EQ(compiler.Compile(Parse(Namespace("shop") + "---\n" + policy), {}).base.authorizations_size(), 1);
  const std::string broken_ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: [oops]\n";
  CompiledPolicy p = compiler.Compile(Parse(broken_ns + "---\n" + policy), {});
  EXPECT_TRUE(p.monitored_namespaces.contains("shop"));
  EXPECT_NE(FindAuth(p.base, "api-to-db"), nullptr);
}

TEST(PolicyCompiler, KeptServiceFollowsTheCurrentWorkloads) {
  PolicyCompiler compiler(CompilerOptions{});
  const std::string service =
      "apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: shop}\n"
      "spec: {selector: {app: db}, ports: [{port: 5432}]}\n";
  const std::string broken_service =
      "apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: shop}\nspec: {ports: [{port: nope}]}\n";
  v1::Workload db0;
  db0.set_uid("db-0"), db0.set_name("db-0"), db0.set_namespace_("shop");
  (*db0.mutable_labels())["app"] = "db";
  v1::Workload db1 = db0;
  db1.set_uid("db-1"), db1.set_name("db-1");

  CompiledPolicy first = compiler.Compile(Parse(Namespace("shop") + "---\n" + service), {{db0}, {}});
  ASSERT_EQ(first.base.services_size(), 1);
  CompiledPolicy p = compiler.Compile(Parse(Namespace("shop") + "---\n" + broken_service), {{db0, db1}, {}});
  ASSERT_EQ(p.base.services_size(), 1) << "the last good Service stays";
  EXPECT_EQ(p.base.services(0).endpoint_uids_size(), 2) << "with today's endpoints";
}

TEST(PolicyCompiler, NodeSnapshotsDifferOnlyByTheOptionalNodeExemption) {
  CompilerOptions options;
  options.exempt_node_ip = true;
  PolicyCompiler compiler(options);
  CompiledPolicy p = compiler.Compile(Parse(Namespace("shop")), {{}, {{"node-a", "198.18.0.2"}, {"node-b", "198.18.0.3"}}});
  EXPECT_EQ(p.nodes, (std::set<std::string>{"node-a", "node-b"}));
  v1::PolicySnapshot a = BuildNodeSnapshot(p, "node-a");
  ASSERT_EQ(a.mesh().inbound_exempt_ips_size(), 1);
  EXPECT_EQ(a.mesh().inbound_exempt_ips(0), "198.18.0.2");
  EXPECT_EQ(BuildNodeSnapshot(p, "node-b").mesh().inbound_exempt_ips(0), "198.18.0.3");
  EXPECT_EQ(BuildNodeSnapshot(p, "node-unknown").mesh().inbound_exempt_ips_size(), 0);
}

}  // namespace
}  // namespace ferry::controlplane
