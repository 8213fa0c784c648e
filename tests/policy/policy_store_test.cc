// PolicyStore: versions, and readers on several threads while policies are swapped underneath.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "agent/policy/policy_store.h"

namespace ferry::policy {
namespace {

const Identity kApi{"shop", "api"};
const Identity kDb{"shop", "db"};

// Policy number n allows api -> db on port 5432 iff n is even, and always carries n+1
// authorizations, so a reader can check that what it evaluated and what it sees belong together.
v1::PolicySnapshot MakeSnapshot(uint64_t n) {
  v1::PolicySnapshot snapshot;
  snapshot.set_version(n);
  for (uint64_t i = 0; i <= n % 7; ++i) {
    v1::Authorization* auth = snapshot.add_authorizations();
    auth->set_namespace_("shop");
    auth->set_name("t" + std::to_string(i));
    auth->mutable_destination()->set_namespace_("shop");
    auth->mutable_destination()->set_name(i == 0 && n % 2 == 0 ? "db" : "elsewhere");
    v1::ServiceAccountRef* src = auth->add_sources();
    src->set_namespace_("shop");
    src->set_name("api");
    auth->add_rules()->mutable_tcp()->add_ports(5432);
  }
  return snapshot;
}

TEST(PolicyStore, StartsEmptyAndDenies) {
  PolicyStore store;
  EXPECT_EQ(store.Current()->version(), 0u);
  EXPECT_FALSE(store.Current()->EvaluateL4(kApi, kDb, 5432).allow);
}

TEST(PolicyStore, ApplyNumbersUnversionedSnapshotsAndKeepsControllerVersions) {
  PolicyStore store;
  EXPECT_EQ(store.Apply(v1::PolicySnapshot()), 1u);
  EXPECT_EQ(store.Apply(v1::PolicySnapshot()), 2u);
  EXPECT_EQ(store.Apply(MakeSnapshot(40)), 40u);
  EXPECT_EQ(store.Current()->version(), 40u);
  EXPECT_TRUE(store.Current()->EvaluateL4(kApi, kDb, 5432).allow);
  EXPECT_EQ(store.Apply(v1::PolicySnapshot()), 41u);
  EXPECT_FALSE(store.Current()->EvaluateL4(kApi, kDb, 5432).allow);
}

TEST(PolicyStore, ReadersNeverSeeATornPolicyWhileApplyRuns) {
  constexpr uint64_t kPolicies = 300;
  std::vector<v1::PolicySnapshot> snapshots;
  for (uint64_t n = 1; n <= kPolicies; ++n) snapshots.push_back(MakeSnapshot(n));

  PolicyStore store;
  std::atomic<bool> done{false};
  std::atomic<uint64_t> checks{0};
  std::atomic<uint64_t> inconsistencies{0};
  std::atomic<int> started{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      started.fetch_add(1);
      uint64_t last_version = 0;
      while (!done.load(std::memory_order_acquire)) {
        std::shared_ptr<const PolicyEvaluator> policy = store.Current();
        const uint64_t v = policy->version();
        const bool allowed = policy->EvaluateL4(kApi, kDb, 5432).allow;
        const bool consistent = v == 0 || (allowed == (v % 2 == 0) &&
                                           policy->snapshot().authorizations_size() == static_cast<int>(v % 7 + 1));
        if (!consistent || v < last_version) inconsistencies.fetch_add(1);
        last_version = v;
        checks.fetch_add(1);
      }
    });
  }
  // On a loaded machine the applies could all finish before a reader ran: start them first.
  while (started.load() < 3) std::this_thread::yield();
  for (v1::PolicySnapshot& s : snapshots) store.Apply(std::move(s));
  done.store(true, std::memory_order_release);
  for (std::thread& t : readers) t.join();

  EXPECT_EQ(inconsistencies.load(), 0u);
  EXPECT_GT(checks.load(), 0u);
  EXPECT_EQ(store.Current()->version(), kPolicies);
}

}  // namespace
}  // namespace ferry::policy
