// The open-loop schedule of ferry-bench-http (issue #7's http1k rows) and the latencies it
// yields. Request i is due at start + i * interval whatever happened to the requests before it,
// and its latency runs from that due time, not from when a connection was free to send it: a
// stall of the path then shows up in every request scheduled during the stall (as users would
// see it), instead of pausing the generator and vanishing from the percentiles ("coordinated
// omission"). Header-only, no I/O and no clock, so the arithmetic is unit-tested on its own.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace ferry::bench {

class OpenLoopSchedule {
 public:
  // `total` requests, `interval_ns` apart, the first one due at `start_ns`.
  OpenLoopSchedule(int64_t start_ns, int64_t interval_ns, uint64_t total)
      : start_ns_(start_ns), interval_ns_(interval_ns), total_(total) {}

  int64_t DueAt(uint64_t index) const { return start_ns_ + static_cast<int64_t>(index) * interval_ns_; }

  // Every request due by `now_ns` joins the backlog (the requests waiting for a free connection).
  void Release(int64_t now_ns) {
    while (released_ < total_ && DueAt(released_) <= now_ns) ++released_;
  }

  // The oldest waiting request's due time, taken out of the backlog; nullopt if none waits.
  std::optional<int64_t> TakeDue() {
    if (taken_ == released_) return std::nullopt;
    return DueAt(taken_++);
  }

  // When the next request not yet released is due; nullopt once all are released.
  std::optional<int64_t> NextDueAt() const {
    if (released_ == total_) return std::nullopt;
    return DueAt(released_);
  }

  uint64_t backlog() const { return released_ - taken_; }
  uint64_t taken() const { return taken_; }
  bool AllTaken() const { return taken_ == total_; }

 private:
  int64_t start_ns_;
  int64_t interval_ns_;
  uint64_t total_;
  uint64_t released_ = 0;
  uint64_t taken_ = 0;
};

// Latencies of completed exchanges in µs, measured both ways: from the due time (what the
// benchmark reports) and from the actual send (what a closed-loop tool would have reported;
// kept to show how much the correction matters).
struct LatencyLog {
  std::vector<double> from_schedule_us;
  std::vector<double> from_send_us;

  void Record(int64_t due_ns, int64_t sent_ns, int64_t completed_ns) {
    from_schedule_us.push_back(static_cast<double>(completed_ns - due_ns) / 1000.0);
    from_send_us.push_back(static_cast<double>(completed_ns - sent_ns) / 1000.0);
  }
};

}  // namespace ferry::bench
