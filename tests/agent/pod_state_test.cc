#include "agent/inpod/pod_state.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "agent/inpod/pod_registry.h"
#include "test_result.h"

namespace ferry::inpod {
namespace {

TEST(PodState, SaveAndLoadRoundTrip) {
  std::string path = "/tmp/ferry-pod-state-test-" + std::to_string(getpid()) + ".json";
  std::vector<PodSpec> pods = {{"app", "a", "web", "/var/run/netns/a", 0xC6120102u},
                               {"app", "b", "api", "/var/run/netns/b", 0xC6120103u}};
  ASSERT_OK(SavePodState(path, pods));
  auto loaded = LoadPodState(path);
  ASSERT_OK(loaded);
  EXPECT_EQ(*loaded, pods);
  unlink(path.c_str());
}

TEST(PodState, MissingFileIsEmptyCorruptFileIsAnError) {
  auto missing = LoadPodState("/nonexistent/ferry/pods.json");
  ASSERT_OK(missing);
  EXPECT_TRUE(missing->empty());
  EXPECT_ERR(PodSpecsFromJson("{"));
  EXPECT_ERR(PodSpecsFromJson(R"({"pods":[{"namespace":"a","name":"b","netns":"/n","ip":"x"}]})"));
  EXPECT_ERR(PodSpecsFromJson(R"({"pods":[{"namespace":"a","ip":"198.18.0.2"}]})"));
}

TEST(PodRegistry, IndexesByKeyIpAndListener) {
  PodRegistry reg;
  auto pod = std::make_shared<EnrolledPod>();
  pod->spec = {"app", "a", "web", "/n", 0xC6120102u};
  pod->outbound_listener_id = 7;
  pod->inbound_listener_id = 8;
  reg.Put(pod);
  EXPECT_EQ(reg.ByKey("app/a"), pod);
  EXPECT_EQ(reg.ByIp(0xC6120102u), pod);
  EXPECT_EQ(reg.ByListener(7), pod);
  EXPECT_EQ(reg.ByListener(8), pod);
  auto old_snapshot = reg.Snapshot();
  EXPECT_EQ(reg.Remove("app/a"), pod);
  EXPECT_EQ(reg.ByIp(0xC6120102u), nullptr);
  EXPECT_EQ(reg.ByListener(7), nullptr);
  // A reader holding the old snapshot keeps a consistent view.
  EXPECT_EQ(old_snapshot->by_key.size(), 1u);
}

}  // namespace
}  // namespace ferry::inpod
