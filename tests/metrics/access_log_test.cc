// The access log: one JSON line per connection (closed or refused) and per HTTP exchange, written
// by the dispatcher and its routers; and the line format itself.
#include "agent/metrics/access_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "agent/canary_snapshot.h"
#include "agent/dispatch/http_routes.h"
#include "agent/dispatcher_fixture.h"
#include "test_result.h"

namespace ferry::dispatch {
namespace {

using nlohmann::json;

Result<metrics::ProcessStats> NoProcess() { return MakeError("not read in tests"); }

std::chrono::system_clock::time_point FixedTime() {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(1795737600123));  // 2026-11-27T00:00:00.123Z
}

class AccessLogTest : public DispatcherTest {
 protected:
  void SetUp() override {
    DispatcherTest::SetUp();
    path_ = ::testing::TempDir() + "access-" + std::to_string(::getpid()) + ".log";
    std::remove(path_.c_str());
    auto log = metrics::AccessLog::Open(path_, FixedTime);
    ASSERT_OK(log);
    log_ = std::move(log).value();
    dispatcher_.SetMetrics(&metrics_);
    dispatcher_.SetAccessLog(log_.get());
  }
  void TearDown() override { std::remove(path_.c_str()); }

  std::vector<json> Lines() const {
    std::vector<json> out;
    std::ifstream in(path_);
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line, nullptr, false));
    return out;
  }

  std::string path_;
  metrics::MeshMetrics metrics_{nullptr, NoProcess};
  std::unique_ptr<metrics::AccessLog> log_;
};

TEST_F(AccessLogTest, AClosedConnectionIsOneLineWithBothEndsBytesAndDuration) {
  policy_.Apply(AllowFrontendToApi({8080}));
  auto decision = Outbound({kApiIp, 8080});
  auto* plan = std::get_if<proxy::ForwardPlan>(&decision);
  ASSERT_NE(plan, nullptr) << DenyReasonOf(decision);
  proxy::ConnectionStats stats;
  stats.bytes_client_to_upstream = 300;
  stats.bytes_upstream_to_client = 4000;
  stats.duration = std::chrono::milliseconds(1500);
  dispatcher_.OnClosed(*plan->info, stats);
  auto lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  const json& line = lines[0];
  EXPECT_EQ(line["time"], "2026-11-27T00:00:00.123Z");
  EXPECT_EQ(line["type"], "connection");
  EXPECT_EQ(line["decision"], "allow");
  EXPECT_EQ(line["reporter"], "both") << "same node: logged once for both ends";
  EXPECT_EQ(line["source"]["workload"], "frontend");
  EXPECT_EQ(line["source"]["principal"], "frontend");
  EXPECT_EQ(line["destination"]["workload"], "api");
  EXPECT_EQ(line["destination"]["port"], 8080);
  EXPECT_EQ(line["bytes_from_client"], 300);
  EXPECT_EQ(line["bytes_to_client"], 4000);
  EXPECT_EQ(line["duration_ms"], 1500);
  EXPECT_EQ(line["tls"], "none");
}

TEST_F(AccessLogTest, ARefusedConnectionIsLoggedWithItsReason) {
  policy_.Apply(AllowFrontendToApi({8080}));
  Outbound({kApiIp, 9090});
  auto lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["decision"], "deny");
  EXPECT_EQ(lines[0]["reason"], "policy");
  EXPECT_NE(lines[0]["detail"].get<std::string>().find("9090"), std::string::npos) << lines[0];
}

TEST_F(AccessLogTest, RequestsAreLoggedWithMethodPathStatusAndDecision) {
  policy_.Apply(test_snapshots::CanarySnapshot(90, 10, "http"));
  RouterMetrics config{&metrics_, {"frontend", "app", "frontend"}, {"api", "app", "api"}, false, log_.get()};
  DestinationRouter router(policy_, {"app", "frontend"}, {"app", "api"}, 8080, "198.18.1.3:8080", config);
  http::RequestRecord ok;
  ok.method = "GET";
  ok.path = "/api/values";
  ok.status = 200;
  ok.upstream_key = "198.18.1.3:8080";
  ok.response_body_bytes = 31;
  ok.duration = std::chrono::microseconds(2500);
  router.OnRequestDone(ok);
  http::RequestRecord refused;
  refused.method = "DELETE";
  refused.path = "/admin";
  refused.status = 403;
  refused.local_response = true;
  router.OnRequestDone(refused);
  auto lines = Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["type"], "request");
  EXPECT_EQ(lines[0]["reporter"], "destination");
  EXPECT_EQ(lines[0]["decision"], "allow");
  EXPECT_EQ(lines[0]["method"], "GET");
  EXPECT_EQ(lines[0]["path"], "/api/values");
  EXPECT_EQ(lines[0]["status"], 200);
  EXPECT_EQ(lines[0]["destination"]["address"], "198.18.1.3:8080");
  EXPECT_EQ(lines[0]["response_body_bytes"], 31);
  EXPECT_DOUBLE_EQ(lines[0]["duration_ms"].get<double>(), 2.5);
  EXPECT_EQ(lines[1]["decision"], "deny");
  EXPECT_EQ(lines[1]["status"], 403);
  EXPECT_EQ(lines[1]["source"]["workload"], "frontend");
}

TEST_F(AccessLogTest, ConcurrentWritersNeverInterleaveLines) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) log_->Refused("policy", std::string(200, static_cast<char>('a' + t)));
    });
  for (auto& th : threads) th.join();
  auto lines = Lines();
  ASSERT_EQ(lines.size(), 2000u);
  for (const auto& line : lines) {
    ASSERT_FALSE(line.is_discarded());
    std::string detail = line["detail"];
    EXPECT_EQ(detail, std::string(200, detail[0]));
  }
}

TEST(AccessLogOpenTest, AnUnwritablePathIsAClearError) {
  auto log = metrics::AccessLog::Open("/nonexistent-dir/access.log");
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.error().Message().find("/nonexistent-dir/access.log"), std::string::npos);
}

}  // namespace
}  // namespace ferry::dispatch
