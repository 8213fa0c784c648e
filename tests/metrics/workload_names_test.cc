// Workload labels: pods of one owner collapse into one name; addresses and SPIFFE ids never leak
// into labels.
#include "agent/metrics/workload_names.h"

#include <gtest/gtest.h>

namespace ferry::metrics {
namespace {

TEST(WorkloadFromPodName, StripsGeneratedSuffixesOnly) {
  struct Case {
    const char* pod;
    const char* workload;
  } cases[] = {
      {"bookstore-v1-7d9f8b6c5d-x2x4p", "bookstore-v1"},  // Deployment
      {"api-5c8bd4b7f9-qwz6k", "api"},
      {"node-exporter-x7k2p", "node-exporter"},  // DaemonSet
      {"db-0", "db"},                            // StatefulSet
      {"api-v2-1", "api-v2"},                    // ferryctl local's Deployment replicas
      {"web-proxy", "web-proxy"},                // "proxy" has a vowel: not generated
      {"frontend", "frontend"},
      {"api-v2", "api-v2"},
      {"-x2x4p", "-x2x4p"},
      {"trailing-", "trailing-"},
  };
  for (const auto& c : cases) EXPECT_EQ(WorkloadFromPodName(c.pod), c.workload) << c.pod;
}

v1::PolicySnapshot Snapshot(uint64_t version, const char* pod_name) {
  v1::PolicySnapshot s;
  s.set_version(version);
  auto* w = s.add_workloads();
  w->set_name(pod_name);
  w->set_namespace_("shop");
  w->set_service_account("api-sa");
  w->set_ip("198.18.2.5");
  return s;
}

TEST(PeerFor, NamesEachKindOfConnectionEnd) {
  WorkloadDirectory directory;
  auto snapshot = Snapshot(1, "api-6f7c9d8b5c-k2m4n");
  Peer pod = PeerFor("shop/web-6f7c9d8b5c-abcde", "shop", "web-sa", directory, snapshot);
  EXPECT_EQ(pod.workload, "web-6f7c9d8b5c-abcde");  // "abcde" has vowels: not a generated suffix
  Peer generated = PeerFor("shop/web-6f7c9d8b5c-bcdfg", "", "", directory, snapshot);
  EXPECT_EQ(generated.workload, "web");
  EXPECT_EQ(generated.ns, "shop");
  Peer remote = PeerFor("198.18.2.5:8080", "", "", directory, snapshot);
  EXPECT_EQ(remote.workload, "api");
  EXPECT_EQ(remote.principal, "api-sa");
  Peer outside = PeerFor("203.0.113.9:443", "", "", directory, snapshot);
  EXPECT_EQ(outside.workload, "");
  Peer tunnel = PeerFor("spiffe://cluster.local/ns/shop/sa/web-sa", "shop", "web-sa", directory, snapshot);
  EXPECT_EQ(tunnel.workload, "") << "no workload of the snapshot runs as shop/web-sa";
  EXPECT_EQ(tunnel.principal, "web-sa");
  Peer known = PeerFor("spiffe://cluster.local/ns/shop/sa/api-sa", "shop", "api-sa", directory, snapshot);
  EXPECT_EQ(known.workload, "api") << "the only workload running as shop/api-sa";
}

TEST(PeerFor, AnIdentityTwoWorkloadsShareNamesNoWorkload) {
  WorkloadDirectory directory;
  auto snapshot = Snapshot(1, "api-0");
  auto* other = snapshot.add_workloads();
  other->set_name("worker-0");
  other->set_namespace_("shop");
  other->set_service_account("api-sa");
  other->set_ip("198.18.2.6");
  auto* replica = snapshot.add_workloads();
  replica->set_name("api-1");
  replica->set_namespace_("shop");
  replica->set_service_account("api-sa");
  replica->set_ip("198.18.2.7");
  EXPECT_EQ(PeerFor("spiffe://cluster.local/ns/shop/sa/api-sa", "shop", "api-sa", directory, snapshot).workload, "");
  snapshot.mutable_workloads()->RemoveLast();
  snapshot.mutable_workloads()->RemoveLast();
  snapshot.set_version(2);
  EXPECT_EQ(PeerFor("spiffe://cluster.local/ns/shop/sa/api-sa", "shop", "api-sa", directory, snapshot).workload, "api");
}

TEST(WorkloadDirectory, FollowsTheSnapshotVersion) {
  WorkloadDirectory directory;
  uint32_t ip = 0xC6120205;
  EXPECT_EQ(directory.Lookup(Snapshot(1, "api-0"), ip)->workload, "api");
  EXPECT_EQ(directory.Lookup(Snapshot(2, "reviews-3"), ip)->workload, "reviews");
  EXPECT_FALSE(directory.Lookup(Snapshot(2, "reviews-3"), ip + 1));
}

}  // namespace
}  // namespace ferry::metrics
