// The walkthrough manifests of examples/simple-app and examples/canary-app, exactly as shipped:
// the controller's SMI compiler accepts every resource and compiles the intended policy, and
// `ferryctl local` turns the Deployments into the intended pods.
#include <gtest/gtest.h>

#include <algorithm>

#include "controlplane/smi/compile.h"
#include "controlplane/smi/parse.h"
#include "local/workloads.h"
#include "test_result.h"

namespace ferry {
namespace {

const std::string kExamples = FERRY_EXAMPLES_DIR;

smi::CompileResult CompileFiles(const std::vector<std::string>& paths) {
  smi::ResourceSet all;
  for (const auto& p : paths) {
    auto set = smi::LoadManifestPath(kExamples + "/" + p);
    EXPECT_TRUE(set.ok()) << p;
    if (set.ok()) all.Merge(std::move(*set));
  }
  smi::CompileResult r = smi::Compile(all, smi::MeshOptions{});
  for (const auto& rejection : r.rejections) ADD_FAILURE() << rejection.ToString();
  return r;
}

const v1::Authorization* FindAuthorization(const v1::PolicySnapshot& s, const std::string& name) {
  for (const auto& a : s.authorizations()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

const v1::Service* FindService(const v1::PolicySnapshot& s, const std::string& name) {
  for (const auto& svc : s.services()) {
    if (svc.name() == name) return &svc;
  }
  return nullptr;
}

// frontend's service account may reach `destination`'s /api/values with any method, and only that.
void ExpectValuesOnlyFromFrontend(const v1::PolicySnapshot& s, const std::string& ns, const std::string& target,
                                  const std::string& destination) {
  SCOPED_TRACE(ns + "/" + target);
  const v1::Authorization* a = FindAuthorization(s, target);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->namespace_(), ns);
  EXPECT_EQ(a->api_version(), "access.smi-spec.io/v1alpha2");
  EXPECT_EQ(a->destination().name(), destination);
  EXPECT_EQ(a->destination().namespace_(), ns);
  ASSERT_EQ(a->sources_size(), 1);
  EXPECT_EQ(a->sources(0).name(), "frontend");
  EXPECT_EQ(a->sources(0).namespace_(), ns);
  ASSERT_EQ(a->rules_size(), 1);
  EXPECT_EQ(a->rules(0).route_kind(), "HTTPRouteGroup");
  ASSERT_TRUE(a->rules(0).has_http());
  ASSERT_EQ(a->rules(0).http().matches_size(), 1);
  const v1::HttpMatch& m = a->rules(0).http().matches(0);
  EXPECT_EQ(m.path_regex(), "/api/values");
  ASSERT_EQ(m.methods_size(), 1);
  EXPECT_EQ(m.methods(0), "*");
}

TEST(ExampleManifests, SimpleAppCompilesToOneHttpAuthorization) {
  auto r = CompileFiles({"simple-app"});
  EXPECT_EQ(r.snapshot.authorizations_size(), 1);
  ExpectValuesOnlyFromFrontend(r.snapshot, "simple-app", "api", "api");
  EXPECT_EQ(r.snapshot.splits_size(), 0);
  for (const char* name : {"api", "frontend"}) {
    const v1::Service* svc = FindService(r.snapshot, name);
    ASSERT_NE(svc, nullptr) << name;
    ASSERT_EQ(svc->ports_size(), 1);
    EXPECT_EQ(svc->ports(0).name(), std::string(name) + "-port") << "named as in the walkthrough, not http";
    EXPECT_EQ(svc->ports(0).port(), 80u);
    EXPECT_EQ(svc->ports(0).target_port(), 8080u);
    EXPECT_EQ(svc->ports(0).app_protocol(), "");
  }
}

TEST(ExampleManifests, CanaryAppAppliedWholeIsTheNinetyTenCanary) {
  auto r = CompileFiles({"canary-app"});
  EXPECT_EQ(r.snapshot.authorizations_size(), 2);
  ExpectValuesOnlyFromFrontend(r.snapshot, "canary-app", "api-v1", "api-v1");
  ExpectValuesOnlyFromFrontend(r.snapshot, "canary-app", "api-v2", "api-v2");
  ASSERT_EQ(r.snapshot.splits_size(), 1) << "the variants/ folder is not applied with the folder";
  const v1::TrafficSplit& split = r.snapshot.splits(0);
  EXPECT_EQ(split.namespace_(), "canary-app");
  EXPECT_EQ(split.root_service(), "api");
  ASSERT_EQ(split.backends_size(), 2);
  EXPECT_EQ(split.backends(0).service(), "api-v1");
  EXPECT_EQ(split.backends(0).weight(), 90u);
  EXPECT_EQ(split.backends(1).service(), "api-v2");
  EXPECT_EQ(split.backends(1).weight(), 10u);
  const v1::Service* root = FindService(r.snapshot, "api");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root->ports(0).name(), "api-port");
}

TEST(ExampleManifests, CanaryVariantsReplaceTheSameSplit) {
  struct Variant {
    const char* file;
    uint32_t v1, v2;
  };
  for (const Variant& v : {Variant{"canary-app/variants/split-v2-only.yaml", 0, 100},
                           Variant{"canary-app/variants/split-50-50.yaml", 50, 50}}) {
    SCOPED_TRACE(v.file);
    auto r = CompileFiles({"canary-app/00-namespace.yaml", "canary-app/10-apps.yaml", "canary-app/20-access.yaml", v.file});
    ASSERT_EQ(r.snapshot.splits_size(), 1);
    EXPECT_EQ(r.snapshot.splits(0).name(), "api-split") << "same name: applying it replaces 30-split.yaml's split";
    EXPECT_EQ(r.snapshot.splits(0).backends(0).weight(), v.v1);
    EXPECT_EQ(r.snapshot.splits(0).backends(1).weight(), v.v2);
  }
}

TEST(ExampleManifests, TheRootServiceSelectsNoPod) {
  std::vector<v1::Workload> pods;
  for (const auto& [name, app] : std::vector<std::pair<std::string, std::string>>{
           {"frontend-0", "frontend"}, {"api-v1-0", "api-v1"}, {"api-v2-0", "api-v2"}}) {
    v1::Workload w;
    w.set_uid("canary-app/" + name);
    w.set_name(name);
    w.set_namespace_("canary-app");
    (*w.mutable_labels())["app"] = app;
    pods.push_back(w);
  }
  auto set = smi::LoadManifestPath(kExamples + "/canary-app");
  ASSERT_OK(set);
  auto r = smi::Compile(*set, smi::MeshOptions{}, pods);
  const v1::Service* root = FindService(r.snapshot, "api");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root->endpoint_uids_size(), 0);
  const v1::Service* v1_svc = FindService(r.snapshot, "api-v1");
  ASSERT_NE(v1_svc, nullptr);
  ASSERT_EQ(v1_svc->endpoint_uids_size(), 1);
  EXPECT_EQ(v1_svc->endpoint_uids(0), "canary-app/api-v1-0");
}

struct ExpectedPod {
  std::string name;
  std::string service_account;
  std::string node;
  std::string subcommand;
  std::string env_name;
  std::string env_value;
};

void ExpectLocalPods(const std::string& dir, const std::string& ns, const std::vector<ExpectedPod>& expected) {
  SCOPED_TRACE(dir);
  auto parsed = local::ReadManifestPath(kExamples + "/" + dir);
  ASSERT_OK(parsed);
  for (const auto& e : parsed->errors) ADD_FAILURE() << e;
  EXPECT_EQ(local::MeshNamespaces(parsed->manifests, "ferry"), std::set<std::string>{ns}) << "onboarded to the mesh";
  local::WorkloadPlan plan = local::ExpandWorkloads(parsed->manifests);
  for (const auto& e : plan.errors) ADD_FAILURE() << e;
  ASSERT_EQ(plan.pods.size(), expected.size());
  std::vector<std::string> errors;
  auto placement = local::PlacePods(plan.pods, 2, {}, &errors);
  EXPECT_TRUE(errors.empty());
  for (const ExpectedPod& e : expected) {
    auto it = std::find_if(plan.pods.begin(), plan.pods.end(), [&](const auto& p) { return p.name == e.name; });
    ASSERT_NE(it, plan.pods.end()) << e.name;
    EXPECT_EQ(it->namespace_name, ns);
    EXPECT_EQ(it->service_account, e.service_account);
    EXPECT_EQ(it->node_name, e.node);
    EXPECT_EQ(placement[it->Key()], e.node == "node-1" ? 1 : 2);
    ASSERT_GE(it->argv.size(), 4u);
    EXPECT_EQ(it->argv[0], "ferry-example-app") << "bare name: found on ferryctl's PATH";
    EXPECT_EQ(it->argv[1], e.subcommand);
    EXPECT_EQ(it->argv[2], "--listen");
    EXPECT_EQ(it->argv[3], "0.0.0.0:8080");
    EXPECT_EQ(it->env[e.env_name], e.env_value) << e.name;
  }
}

TEST(ExampleManifests, LocalClusterRunsTheAppsOnTheirNodes) {
  ExpectLocalPods("simple-app", "simple-app",
                  {{"api-0", "api", "node-2", "api", "VALUES", R"(["Value 1","Value 2","Value 3"])"},
                   {"frontend-0", "frontend", "node-1", "frontend", "POD_NAMESPACE", "simple-app"}});
  ExpectLocalPods("canary-app", "canary-app",
                  {{"api-v1-0", "api-v1", "node-1", "api", "VALUES", R"(["Value 1","Value 2","Value 3"])"},
                   {"api-v2-0", "api-v2", "node-2", "api", "VALUES", R"(["Value 4","Value 5","Value 6"])"},
                   {"frontend-0", "frontend", "node-1", "frontend", "POD_NAMESPACE", "canary-app"}});
}

TEST(ExampleManifests, FrontendsCallTheApiServiceByItsShortName) {
  for (const char* dir : {"simple-app", "canary-app"}) {
    auto parsed = local::ReadManifestPath(kExamples + "/" + dir);
    ASSERT_OK(parsed);
    local::WorkloadPlan plan = local::ExpandWorkloads(parsed->manifests);
    auto fe = std::find_if(plan.pods.begin(), plan.pods.end(), [](const auto& p) { return p.name == "frontend-0"; });
    ASSERT_NE(fe, plan.pods.end());
    EXPECT_NE(std::find(fe->argv.begin(), fe->argv.end(), "http://api/api/values"), fe->argv.end()) << dir;
  }
}

}  // namespace
}  // namespace ferry
