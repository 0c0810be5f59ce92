// tests/metrics_test.cc: urgent::metrics() and its text form.
#include <gtest/gtest.h>
#include <urgent/urgent.h>

#include <chrono>
#include <sstream>
#include <string>

#include "histogram.h"
#include "test_util.h"

namespace urgent {
namespace {

using namespace std::chrono_literals;

// A percentile from a bucket is the bucket's midpoint, which can lie above every sample in
// it: never above the largest one (lab: `p99=1933us max=1911us` before).
TEST(LatencyHistogram, PercentilesNeverExceedTheMax) {
  rt::LatencyHistogram h;
  for (int i = 0; i < 100; i++) h.record(1'911'100);  // the low end of its bucket
  LatencyStats s = h.summary();
  EXPECT_EQ(s.max.count(), 1'911'100);
  EXPECT_LE(s.p50, s.max);
  EXPECT_LE(s.p99, s.max);
  EXPECT_GT(s.p99.count(), 1'911'100 * 97 / 100);  // still within the bucket's ~3 %
}

// Reads `name value` out of metrics_text.
long long metric(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string n;
  long long v;
  while (in >> n >> v) {
    if (n == name) return v;
  }
  return -1;
}

TEST(Metrics, GoroutinesByStateAndCounters) {
  Metrics m;
  std::string text;
  std::chrono::nanoseconds slice{};
  test::run_with(2, [&] {
    slice = timeslice();
    Chan<int> never;
    WaitGroup parked, gone;
    for (int i = 0; i < 5; i++) {
      parked.add(1);
      gone.add(1);
      go([never, &parked, &gone]() mutable {
        parked.done();
        never.recv();  // waiting until closed below
        gone.done();
      });
    }
    parked.wait();
    ASSERT_TRUE(test::yield_until([] { return metrics().goroutines.waiting >= 5; }));
    for (int i = 0; i < 2000; i++) gosched();  // transitions for the latency sample
    m = metrics();
    text = metrics_text(m);
    never.close();
    gone.wait();
  });
  EXPECT_GE(m.goroutines.waiting, 5);
  EXPECT_GE(m.goroutines.running, 1);  // main, taking the snapshot
  EXPECT_EQ(m.goroutines.total, m.goroutines.runnable + m.goroutines.running +
                                    m.goroutines.syscall + m.goroutines.waiting);
  EXPECT_GE(m.sched.goroutines_created, 6u);
  EXPECT_EQ(m.sched.gomaxprocs, 2);
  // 2,000 yields are 4,000 transitions through runnable: about 60 sampled.
  EXPECT_GT(m.sched_latency.count, 0u);
  EXPECT_LE(m.sched_latency.p50, m.sched_latency.p99);
  EXPECT_LE(m.sched_latency.p99, m.sched_latency.max);
  // The text form carries the same values, one `name value` a line.
  EXPECT_EQ(metric(text, "/sched/goroutines:goroutines"), m.goroutines.total);
  EXPECT_EQ(metric(text, "/sched/goroutines/waiting:goroutines"), m.goroutines.waiting);
  EXPECT_EQ(metric(text, "/sched/gomaxprocs:threads"), 2);
  EXPECT_EQ(metric(text, "/sched/latencies:samples"),
            static_cast<long long>(m.sched_latency.count));
  EXPECT_EQ(metric(text, "/sched/timeslice:ns"), slice.count());
  for (const char* name :
       {"/sched/preempt/signals:signals", "/sched/syscalls:calls", "/sched/steals:events",
        "/netpoll/waiters:goroutines", "/sysmon/ticks:events", "/sched/preempt/latencies:p99-ns"}) {
    EXPECT_GE(metric(text, name), 0) << name << " missing from:\n" << text;
  }
}

TEST(Metrics, ZeroOutsideRun) {
  Metrics m = metrics();
  EXPECT_EQ(m.goroutines.total, 0);
  EXPECT_EQ(m.sched.gomaxprocs, 0);
  EXPECT_EQ(m.sched_latency.count, 0u);
}

}  // namespace
}  // namespace urgent
