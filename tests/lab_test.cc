// tests/lab_test.cc: urgent-lab's statistics and its parsers of the tools' output.
#include "lab/lab.h"

#include <gtest/gtest.h>

namespace urgent::lab {
namespace {

TEST(LabStats, PercentileIsNearestRank) {
  std::vector<double> v = {5, 1, 4, 2, 3, 10, 9, 8, 7, 6};
  EXPECT_EQ(*percentile(v, 50), 5);
  EXPECT_EQ(*percentile(v, 90), 9);
  EXPECT_EQ(*percentile(v, 99), 10);
  EXPECT_EQ(*percentile(v, 0), 1);
  EXPECT_EQ(*percentile(v, 100), 10);
  EXPECT_FALSE(percentile({}, 50));
  EXPECT_FALSE(percentile(v, 101));
  EXPECT_EQ(*median({3, 1, 2}), 2);
  EXPECT_EQ(*median({4, 1, 2, 3}), 2.5);
  EXPECT_FALSE(median({}));
}

TEST(LabStats, JainIndex) {
  EXPECT_DOUBLE_EQ(*jain_index({0.25, 0.25, 0.25, 0.25}), 1.0);
  EXPECT_DOUBLE_EQ(*jain_index({1, 0, 0, 0}), 0.25);  // one gets all: 1/n
  EXPECT_DOUBLE_EQ(*jain_index({1, 1, 0, 0}), 0.5);
  EXPECT_NEAR(*jain_index({0.3, 0.3, 0.2, 0.2}), 0.9615, 1e-4);
  EXPECT_FALSE(jain_index({}));
  EXPECT_FALSE(jain_index({0, 0}));
}

TEST(LabParse, BenchLines) {
  EXPECT_EQ(*parse_value("spawn 61.3 ns/goroutine\n", "spawn"), 61.3);
  EXPECT_EQ(*parse_value("noise\necho 225323.5 req/s\n", "echo"), 225323.5);
  EXPECT_FALSE(parse_value("spawnx 1 ns\n", "spawn"));
  EXPECT_FALSE(parse_value("spawn fast ns\n", "spawn"));
  auto p = parse_probe("probe p50 9053.6 us p99 9083.2 us max 9090.0 us\n");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->p50, 9053.6);
  EXPECT_EQ(p->max, 9090.0);
  EXPECT_FALSE(parse_probe("probe p50 us\n"));
  auto h = parse_handoff("handoff p50 72.9 us p99 150.2 us max 165.7 us\n");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->p50, 72.9);
  EXPECT_EQ(h->p99, 150.2);
  EXPECT_EQ(h->sysmon_per_s, -1);
  h = parse_handoff(
      "handoff p50 7.5 us p99 20.0 us max 31.0 us (URGENT_HANDOFF=perf; by the kernel's spare 40, "
      "by sysmon 0; sysmon 210 wakeups/s)\n");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->max, 31.0);
  EXPECT_EQ(h->sysmon_per_s, 210);
  EXPECT_FALSE(parse_handoff("handoff p50 72.9 us max 165.7 us\n"));  // the old format
  auto f = parse_fairness("fairness shares 0.2490 0.2530 0.2320 0.2660\n");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->size(), 4u);
  EXPECT_EQ((*f)[3], 0.266);
  EXPECT_FALSE(parse_fairness("fairness shares 0.2 x\n"));
}

TEST(LabParse, Reports) {
  auto p = parse_preemptlat(
      "preemptlat p50 21.0 us p99 31.2 us max 157.8 us (2004 preemptions, slice 500us)\n"
      "tgkill->handler p50 20.0 us p99 42.4 us max 856.9 us (2000 samples)\n"
      "ratio p50 1.047\n");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->p50, 21.0);
  EXPECT_EQ(p->preemptions, 2004);
  EXPECT_EQ(p->floor_p50, 20.0);
  EXPECT_FALSE(parse_preemptlat("preemptlat p50 21.0 us\n"));
  auto o = parse_overhead(
      "overhead: 4 goroutines x 50M LCG steps, GOMAXPROCS=2, medians of 5 rounds\n"
      "  (floor: ...)\n"
      "  preemption off     412.0 ms           floor    300.0 ms\n"
      "  slice 10ms         410.0 ms    -0.5%   floor    300.0 ms    +0.0%\n"
      "  slice 100us        581.3 ms   +41.1%   floor    411.3 ms   +37.1%\n");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->off_ms, 412.0);
  EXPECT_EQ(o->by_slice.size(), 2u);
  EXPECT_EQ(o->by_slice.at("100us").first, 581.3);
  EXPECT_EQ(o->by_slice.at("100us").second, 411.3);
  EXPECT_FALSE(parse_overhead("nothing\n"));
  auto r = parse_overrun(
      "ratio p50 1.047\n"
      "overrun p50 1.5 us p99 29.2 us max 68.3 us (URGENT_PREEMPT=timer; slice end -> off its M, "
      "300 preemptions; sysmon 378 wakeups/s)\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->p50, 1.5);
  EXPECT_EQ(r->max, 68.3);
  EXPECT_EQ(r->trigger, "timer");
  EXPECT_EQ(r->sysmon_per_s, 378);
  EXPECT_FALSE(parse_overrun("overrun p50 1.5 us p99 29.2 us max 68.3 us (no trigger)\n"));
  auto c = parse_sharedcpu(
      "sharedcpu URGENT_PREEMPT=perf slice 10ms: on-CPU p50 9.984 ms, wall p50 21.515 ms (30 "
      "slices; a CPU-bound thread shares the CPU)\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->trigger, "perf");
  EXPECT_EQ(c->on_cpu_ms, 9.984);
  EXPECT_EQ(c->wall_ms, 21.515);
  EXPECT_FALSE(parse_sharedcpu("sharedcpu URGENT_PREEMPT=perf slice 10ms: on-CPU p50 x\n"));
}

TEST(LabParse, JsonNumbers) {
  std::string j = R"({"pid":12,"check":{"preemption":{"decision_to_off":{"n":3,"p50_ns":19200}}},)"
                  R"("hist":[1,2,{"x":5}],"s":"a \"q\"","t":true,"u":null})";
  EXPECT_EQ(*json_number(j, "pid"), 12);
  EXPECT_EQ(*json_number(j, "check.preemption.decision_to_off.p50_ns"), 19200);
  EXPECT_EQ(*json_number(j, "hist.1"), 2);
  EXPECT_EQ(*json_number(j, "hist.2.x"), 5);
  EXPECT_FALSE(json_number(j, "check.preemption"));  // an object, not a number
  EXPECT_FALSE(json_number(j, "missing"));
  EXPECT_FALSE(json_number(j, "s"));
  EXPECT_FALSE(json_number(R"({"a":1)", "a"));  // not JSON
  EXPECT_FALSE(json_number(R"({"a":1} x)", "a"));
  EXPECT_EQ(json_escape("a\"b\\c\n"), "a\\\"b\\\\c\\u000a");
  auto calls = parse_scope_calls(
      R"({"blocking_syscalls":[{"tid":1,"nr":0,"name":"read","enter_ns":100,"exit_ns":350,)"
      R"("offcpu_ns":200},{"tid":1,"nr":7,"name":"poll","enter_ns":1,"exit_ns":9,"offcpu_ns":8},)"
      R"({"tid":2,"nr":0,"name":"read","enter_ns":1000,"exit_ns":1100,"offcpu_ns":0}]})",
      "read");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].first, 250);
  EXPECT_EQ(calls[0].second, 200);
  EXPECT_EQ(calls[1].second, 0);
}

}  // namespace
}  // namespace urgent::lab
