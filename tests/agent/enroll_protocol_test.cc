#include "agent/enroll/enroll_protocol.h"

#include <gtest/gtest.h>

#include "test_result.h"

namespace ferry::enroll {
namespace {

TEST(EnrollProtocol, ParsesAdd) {
  auto r = ParseRequest(R"({"op":"add","pod":{"namespace":"app","name":"a","serviceAccount":"web","ip":"198.18.1.2","netns":"/var/run/netns/x"}})");
  ASSERT_OK(r);
  auto* add = std::get_if<AddPod>(&*r);
  ASSERT_NE(add, nullptr);
  EXPECT_EQ(add->pod.Key(), "app/a");
  EXPECT_EQ(add->pod.service_account, "web");
  EXPECT_EQ(add->pod.ip, 0xC6120102u);
}

TEST(EnrollProtocol, DefaultsServiceAccount) {
  auto r = ParseRequest(R"({"op":"add","pod":{"namespace":"app","name":"a","ip":"198.18.1.2","netns":"/n"}})");
  ASSERT_OK(r);
  EXPECT_EQ(std::get<AddPod>(*r).pod.service_account, "default");
}

TEST(EnrollProtocol, RejectsBadInputWithReason) {
  struct Case { const char* line; const char* reason; };
  for (auto c : {Case{"not json", "not a JSON object"},
                 Case{R"({"op":"fly"})", "unknown op"},
                 Case{R"({"op":"add"})", "missing \"pod\""},
                 Case{R"({"op":"add","pod":{"namespace":"App","name":"a","ip":"198.18.1.2","netns":"/n"}})", "namespace"},
                 Case{R"({"op":"add","pod":{"namespace":"app","name":"../etc","ip":"198.18.1.2","netns":"/n"}})", "name"},
                 Case{R"({"op":"add","pod":{"namespace":"app","name":"a","ip":"127.0.0.1","netns":"/n"}})", "pod.ip"},
                 Case{R"({"op":"add","pod":{"namespace":"app","name":"a","ip":"fd00::1","netns":"/n"}})", "pod.ip"},
                 Case{R"({"op":"add","pod":{"namespace":"app","name":"a","ip":"198.18.1.2","netns":"rel"}})", "netns"},
                 Case{R"({"op":"remove","namespace":"app"})", "namespace and name"}}) {
    auto r = ParseRequest(c.line);
    ASSERT_FALSE(r.ok()) << c.line;
    EXPECT_NE(r.error().Message().find(c.reason), std::string::npos) << c.line << " -> " << r.error().Message();
  }
}

TEST(EnrollProtocol, RequestBuildersRoundTrip) {
  inpod::PodSpec pod{"app", "a", "web", "/var/run/netns/a", 0xC6120105u};
  auto r = ParseRequest(AddRequest(pod));
  ASSERT_OK(r);
  EXPECT_EQ(std::get<AddPod>(*r).pod, pod);
  auto rm = ParseRequest(RemoveRequest("app", "a"));
  ASSERT_OK(rm);
  EXPECT_EQ(std::get<RemovePod>(*rm).name, "a");
}

}  // namespace
}  // namespace ferry::enroll
