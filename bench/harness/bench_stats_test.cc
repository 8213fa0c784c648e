// The harness's statistics: percentiles, medians over repetitions, and ratios to the direct row
// of the same workload and layout (what the benchmark table and latest.json report).
#include "bench_stats.h"
#include "http_frame.h"
#include "open_loop.h"

#include <gtest/gtest.h>

namespace ferry::bench {
namespace {

TEST(BenchStats, PercentilesInterpolateBetweenClosestRanksWhateverTheInputOrder) {
  std::vector<double> values = {40, 10, 30, 20, 50};
  EXPECT_DOUBLE_EQ(*Percentile(values, 0), 10);
  EXPECT_DOUBLE_EQ(*Percentile(values, 50), 30);
  EXPECT_DOUBLE_EQ(*Percentile(values, 100), 50);
  EXPECT_DOUBLE_EQ(*Percentile(values, 25), 20);
  EXPECT_DOUBLE_EQ(*Percentile(values, 90), 46);  // rank 3.6: 40 + 0.6 * 10
  EXPECT_DOUBLE_EQ(*Percentile({7}, 99.9), 7);
  EXPECT_FALSE(Percentile({}, 50).has_value());
}

TEST(BenchStats, MedianOfAnEvenCountIsTheMeanOfTheMiddleTwo) {
  EXPECT_DOUBLE_EQ(*Median({4, 1, 3, 2}), 2.5);
  EXPECT_DOUBLE_EQ(*Median({3, 1, 1000}), 3);  // one noisy repetition does not move it
}

TEST(BenchStats, RowsAreMediansOverRepetitionsWithTheirRatioToDirectOfTheSameLayout) {
  std::vector<Sample> samples = {
      {"rtt64_p50", "direct", "same-node", 20, "us"},
      {"rtt64_p50", "direct", "cross-node", 40, "us"},
      {"rtt64_p50", "ferry-same-node", "same-node", 30, "us"},
      {"rtt64_p50", "ferry-cross-node", "cross-node", 100, "us"},
      {"rtt64_p50", "direct", "same-node", 22, "us"},
      {"rtt64_p50", "ferry-same-node", "same-node", 33, "us"},
      {"rtt64_p50", "direct", "same-node", 500, "us"},  // one noisy repetition
      {"rtt64_p50", "ferry-same-node", "same-node", 31, "us"},
  };
  auto rows = Summarize(samples);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].path, "direct");
  EXPECT_EQ(rows[0].layout, "same-node");
  EXPECT_DOUBLE_EQ(rows[0].value, 22);
  EXPECT_EQ(rows[0].repetitions, 3u);
  EXPECT_DOUBLE_EQ(*rows[0].ratio_to_direct, 1.0);
  EXPECT_EQ(rows[2].path, "ferry-same-node");
  EXPECT_DOUBLE_EQ(rows[2].value, 31);
  EXPECT_DOUBLE_EQ(*rows[2].ratio_to_direct, 31.0 / 22.0);
  // Cross-node rows are compared with the cross-node direct row, not the same-node one.
  EXPECT_EQ(rows[3].path, "ferry-cross-node");
  EXPECT_DOUBLE_EQ(*rows[3].ratio_to_direct, 2.5);
}

TEST(BenchStats, RowsWithoutADirectCounterpartHaveNoRatio) {
  auto rows = Summarize({{"rss_idle", "ferry-cross-node", "per-agent", 9, "MB"},
                         {"rss_idle", "ferry-cross-node", "per-agent", 11, "MB"},
                         {"throughput", "direct", "same-node", 0, "Gbit/s"},
                         {"throughput", "ferry-same-node", "same-node", 5, "Gbit/s"}});
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_DOUBLE_EQ(rows[0].value, 10);
  EXPECT_FALSE(rows[0].ratio_to_direct.has_value());
  EXPECT_FALSE(rows[2].ratio_to_direct.has_value()) << "a zero direct figure gives no ratio";
}

TEST(BenchStats, AddedOverDirectSubtractsTheDirectRowOfTheSameLayout) {
  auto rows = Summarize({{"http1k_p99", "direct", "same-node", 300, "us"},
                         {"http1k_p99", "direct", "cross-node", 500, "us"},
                         {"http1k_p99", "ferry-same-node", "same-node", 380, "us"},
                         {"http1k_p99", "ferry-cross-node", "cross-node", 900, "us"},
                         {"http1k_p99", "haproxy-relay", "solo", 700, "us"},
                         {"rtt64_p50", "direct", "same-node", 20, "us"}});
  auto added = AddedOverDirect(rows, "http1k_p99", "http1k_added_p99");
  ASSERT_EQ(added.size(), 4u) << "the row without a direct counterpart is left out";
  EXPECT_EQ(added[0].workload, "http1k_added_p99");
  EXPECT_DOUBLE_EQ(added[0].value, 0);
  EXPECT_EQ(added[2].path, "ferry-same-node");
  EXPECT_DOUBLE_EQ(added[2].value, 80);
  EXPECT_EQ(added[2].unit, "us");
  EXPECT_DOUBLE_EQ(*added[2].ratio_to_direct, 380.0 / 300.0);
  EXPECT_DOUBLE_EQ(added[3].value, 400) << "cross-node rows are compared with the cross-node direct row";
}

// Drives the open-loop schedule with one connection that answers in `service_ns(i)`; what
// ferry-bench-http does, without sockets or a clock.
LatencyLog RunOneConnection(uint64_t requests, int64_t interval_ns, int64_t (*service_ns)(uint64_t)) {
  OpenLoopSchedule schedule(0, interval_ns, requests);
  LatencyLog log;
  int64_t now = 0;
  for (uint64_t i = 0; i < requests; ++i) {
    if (schedule.backlog() == 0) now = std::max(now, *schedule.NextDueAt());  // idle until the next is due
    schedule.Release(now);
    int64_t due = *schedule.TakeDue();
    int64_t done = now + service_ns(i);
    log.Record(due, now, done);
    now = done;
  }
  return log;
}

TEST(OpenLoop, WhenThePathKeepsUpLatencyFromTheScheduleEqualsLatencyFromTheSend) {
  auto log = RunOneConnection(1000, 1'000'000, [](uint64_t) -> int64_t { return 100'000; });
  ASSERT_EQ(log.from_schedule_us.size(), 1000u);
  EXPECT_DOUBLE_EQ(*Percentile(log.from_schedule_us, 99), 100);
  EXPECT_DOUBLE_EQ(*Percentile(log.from_schedule_us, 100), 100);
  EXPECT_EQ(log.from_schedule_us, log.from_send_us);
}

TEST(OpenLoop, AStallCountsForEveryRequestScheduledDuringIt) {
  // 1000 requests/s, 100 µs per response, except request 100 which takes 100 ms.
  auto log = RunOneConnection(1000, 1'000'000, [](uint64_t i) -> int64_t { return i == 100 ? 100'000'000 : 100'000; });
  // Measured from the send, only one request of 1000 was slow: p99 hides the stall.
  EXPECT_DOUBLE_EQ(*Percentile(log.from_send_us, 99), 100);
  // From the schedule: request 101 was due at 101 ms and went out at 200 ms (99.1 ms when
  // answered), and each following one waited 0.9 ms less until the backlog drained.
  EXPECT_DOUBLE_EQ(log.from_schedule_us[100], 100'000);
  EXPECT_DOUBLE_EQ(log.from_schedule_us[101], 99'100);
  EXPECT_DOUBLE_EQ(log.from_schedule_us[102], 98'200);
  EXPECT_DOUBLE_EQ(log.from_schedule_us[211], 100) << "caught up: due at 211 ms, sent at once";
  // The 11th worst of 1000 (p99's rank 989.01) is 91 ms, not 100 µs.
  EXPECT_NEAR(*Percentile(log.from_schedule_us, 99), 91'000, 10);
}

TEST(OpenLoop, RequestsAreDueAtFixedIntervalsWhateverWasTakenBefore) {
  OpenLoopSchedule schedule(5'000, 1'000, 3);
  EXPECT_EQ(*schedule.NextDueAt(), 5'000);
  schedule.Release(4'999);
  EXPECT_FALSE(schedule.TakeDue().has_value());
  schedule.Release(6'500);  // two are due; nobody took them in time
  EXPECT_EQ(schedule.backlog(), 2u);
  EXPECT_EQ(*schedule.TakeDue(), 5'000);
  EXPECT_EQ(*schedule.TakeDue(), 6'000);
  EXPECT_EQ(*schedule.NextDueAt(), 7'000);
  schedule.Release(1'000'000);
  EXPECT_FALSE(schedule.NextDueAt().has_value());
  EXPECT_EQ(*schedule.TakeDue(), 7'000);
  EXPECT_TRUE(schedule.AllTaken());
}

TEST(HttpFrame, ResponsesEndAfterContentLengthBytesAndCarryTheirStatus) {
  std::string one = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 5\r\n\r\nhello";
  EXPECT_EQ(FrameHttpMessage(one.substr(0, 20), true).kind, HttpFrame::kIncomplete);
  EXPECT_EQ(FrameHttpMessage(one.substr(0, one.size() - 1), true).kind, HttpFrame::kIncomplete);
  HttpFrame f = FrameHttpMessage(one + "HTTP/1.1 403", true);  // the next message is not counted
  EXPECT_EQ(f.kind, HttpFrame::kComplete);
  EXPECT_EQ(f.length, one.size());
  EXPECT_EQ(f.status, 200);
  EXPECT_EQ(FrameHttpMessage("HTTP/1.1 403 Forbidden\r\nContent-Length:  0 \r\n\r\n", true).status, 403);
}

TEST(HttpFrame, WhatCannotBeFramedByContentLengthIsInvalidNotGuessed) {
  EXPECT_EQ(FrameHttpMessage("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true).kind, HttpFrame::kInvalid);
  EXPECT_EQ(FrameHttpMessage("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", true).kind, HttpFrame::kInvalid);
  EXPECT_EQ(FrameHttpMessage("SSH-2.0-OpenSSH\r\n\r\n", true).kind, HttpFrame::kInvalid);
  EXPECT_EQ(FrameHttpMessage(std::string(kMaxHttpHeaderBytes + 1, 'a'), true).kind, HttpFrame::kInvalid);
  // A request without Content-Length has no body.
  HttpFrame get = FrameHttpMessage("GET /bench HTTP/1.1\r\nHost: b\r\n\r\nGET", false);
  EXPECT_EQ(get.kind, HttpFrame::kComplete);
  EXPECT_EQ(get.length, 32u);
}

}  // namespace
}  // namespace ferry::bench
