// tests/trigger_test.cc: URGENT_PREEMPT, who ends a time slice (runtime/trigger.cc).
//
// With timer or perf, the M's own trigger preempts (its counters move, sysmon sends no
// tgkill); the staggering of timers is read back from the trace; an unavailable trigger
// falls back to sysmon with one line. No wall-clock thresholds: counters, orderings and
// the trace's own records. (The whole suite also runs under a 50 µs storm per trigger:
// scripts/run-tests.sh.)
#include <gtest/gtest.h>
#include <urgent/urgent.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <thread>

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "cmd/urgent-trace/analysis.h"
#include "cmd/urgent-trace/reader.h"
#include "test_util.h"
#include "trace_format.h"

namespace urgent {
namespace {

using namespace std::chrono_literals;
using tracefmt::Ev;

class Trigger : public ::testing::TestWithParam<const char*> {};

// A call-free spinner on the only P while main sleeps 2 ms twenty times (each wakeup needs
// the spinner preempted): the run's counters.
SchedStats spinner_and_sleeper() {
  SchedStats st;
  test::run_with(1, [&] {
    test::spin_while_sleeping();
    st = sched_stats();
  });
  return st;
}

// In a child: 0 if a run there fell back to sysmon (its stderr in *err).
int child_falls_back_to_sysmon(std::string* err) {
  return test::in_child(
      [] {
        SchedStats st;
        test::run_with(1, [&] { st = sched_stats(); });
        return std::string(st.preempt_trigger) == "sysmon" ? 0 : 10;
      },
      err);
}

TEST_P(Trigger, CallFreeSpinnerDoesNotStarveASleeperAtOneP) {
  URGENT_REQUIRE_ASYNC_PREEMPTION();
  test::ScopedEnv trigger("URGENT_PREEMPT", GetParam());
  test::ScopedEnv slice("URGENT_TIMESLICE", "1ms");
  SchedStats st = spinner_and_sleeper();  // (it returns: the sleeper was not starved)
  EXPECT_STREQ(st.preempt_trigger, GetParam());
  EXPECT_GT(st.preempt_async, 0u);
  EXPECT_GT(st.trigger_fires, 0u);
  // The M's own trigger did it: sysmon sent nothing.
  EXPECT_EQ(st.preempt_signals, 0u);
  EXPECT_EQ(st.trigger_uncovered, 0u);
}

// Both triggers fire one average lateness before the slice's end, as sysmon signals one
// average latency early: the lead is that lateness (every preemption takes some), and a
// perf event's period is the slice less the lead once the lead has moved 2 µs (retunes;
// a period of a whole slice would make every slice one lateness too long).
TEST_P(Trigger, FiresOneAverageLatenessEarly) {
  URGENT_REQUIRE_ASYNC_PREEMPTION();
  test::ScopedEnv trigger("URGENT_PREEMPT", GetParam());
  test::ScopedEnv slice("URGENT_TIMESLICE", "1ms");
  SchedStats st = spinner_and_sleeper();
  ASSERT_GT(st.preempt_async, 0u);
  EXPECT_GT(st.trigger_lead_ns, 0);
  EXPECT_LE(st.trigger_lead_ns, 500'000);  // (at most half a slice)
  if (std::string(GetParam()) == "perf" && st.trigger_lead_ns >= 2'000) {
    EXPECT_GE(st.trigger_retunes, 1u);
  } else if (std::string(GetParam()) == "timer") {
    EXPECT_EQ(st.trigger_retunes, 0u);
  }
}

// Two spinners on two Ps at a 50 µs slice, traced: every fire of a timer is on its M's own
// lattice (deadline = phase + k * 4096 ns, phases distinct per M), so timers of different
// Ms are never armed for the same instant.
TEST(TriggerTimer, TimersOfDifferentMsAreNeverArmedForTheSameInstant) {
  URGENT_REQUIRE_ASYNC_PREEMPTION();
  test::ScopedEnv trigger("URGENT_PREEMPT", "timer");
  test::ScopedEnv slice("URGENT_TIMESLICE", "50us");
  std::string path = "/tmp/urgent-trigger-" + std::to_string(getpid()) + ".trace";
  test::run_with(2, [&] {
    std::string error;
    ASSERT_TRUE(trace::start(path, {}, &error)) << error;
    std::atomic<bool> stop{false};
    WaitGroup wg;
    wg.add(2);
    for (int i = 0; i < 2; i++) {
      go([&] {
        while (!stop.load(std::memory_order_relaxed)) {
        }
        wg.done();
      });
    }
    sleep_for(50ms);
    stop = true;
    wg.wait();
    trace::stop();
  });
  tracetool::Trace t;
  std::string error;
  ASSERT_TRUE(tracetool::read_trace(path, &t, &error)) << error;
  std::remove(path.c_str());
  std::map<std::int64_t, std::set<std::uint64_t>> residues;  // by M: deadline mod 4096
  std::map<std::uint64_t, std::int64_t> owner;                // deadline -> M
  std::size_t fires = 0;
  for (const tracetool::Event& e : t.events) {
    if (e.type != Ev::kPreemptTrigger || e.args[3] == 0) continue;
    fires++;
    residues[e.m].insert(e.args[3] % 4096);
    auto [it, fresh] = owner.emplace(e.args[3], e.m);
    EXPECT_TRUE(fresh || it->second == e.m)
        << "M" << e.m << " and M" << it->second << " armed for " << e.args[3];
  }
  EXPECT_GT(fires, 100u);
  // urgent-trace summary's preemption latency by trigger: the timers decided them all.
  tracetool::Summary s = tracetool::summarize(t);
  EXPECT_GT(s.preempt_ns[static_cast<int>(tracefmt::TriggerKind::kTimer)].size(), 0u);
  EXPECT_TRUE(s.preempt_ns[static_cast<int>(tracefmt::TriggerKind::kSysmon)].empty());
  EXPECT_NE(tracetool::summary_text(t, s, 5).find("decision -> off its M, decided by timer: n="),
            std::string::npos);
  ASSERT_GE(residues.size(), 2u) << "both Ms' timers fired";
  std::set<std::uint64_t> seen;
  for (const auto& [m, r] : residues) {
    EXPECT_EQ(r.size(), 1u) << "M" << m << "'s deadlines are on one lattice";
    EXPECT_TRUE(seen.insert(*r.begin()).second) << "M" << m << " shares its phase";
  }
}

// The task clock counts on-CPU time only: with the runtime's threads and a CPU-bound thread
// outside urgent pinned to one CPU, the Ms get part of it, and the overflows (one per slice
// of an M's on-CPU time) are bounded by the CPU time the runtime got, not by wall time (a
// wall-clock trigger would fire about twice as often here).
TEST(TriggerPerf, SlicesAreOnCpuTime) {
  URGENT_REQUIRE_ASYNC_PREEMPTION();
  test::ScopedEnv trigger("URGENT_PREEMPT", "perf");
  test::ScopedEnv slice("URGENT_TIMESLICE", "1ms");
  cpu_set_t old, one;
  ASSERT_EQ(sched_getaffinity(0, sizeof old, &old), 0);
  CPU_ZERO(&one);
  for (int c = 0; c < CPU_SETSIZE; c++) {
    if (CPU_ISSET(c, &old)) {
      CPU_SET(c, &one);
      break;
    }
  }
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);  // the Ms inherit it
  std::atomic<bool> hog_stop{false};
  std::thread hog([&] {
    while (!hog_stop.load(std::memory_order_relaxed)) {
    }
  });
  clockid_t hog_clock;
  ASSERT_EQ(pthread_getcpuclockid(hog.native_handle(), &hog_clock), 0);
  auto cpu_ms = [](clockid_t c) {
    timespec t;
    clock_gettime(c, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
  };
  SchedStats before, after;
  double runtime_cpu = 0, wall = 0;
  test::run_with(1, [&] {
    std::atomic<bool> stop{false};
    WaitGroup wg;
    wg.add(1);
    go([&] {
      while (!stop.load(std::memory_order_relaxed)) {
      }
      wg.done();
    });
    before = sched_stats();
    double p0 = cpu_ms(CLOCK_PROCESS_CPUTIME_ID), h0 = cpu_ms(hog_clock);
    auto w0 = std::chrono::steady_clock::now();
    sleep_for(100ms);
    after = sched_stats();
    wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - w0).count();
    runtime_cpu = (cpu_ms(CLOCK_PROCESS_CPUTIME_ID) - p0) - (cpu_ms(hog_clock) - h0);
    stop = true;
    wg.wait();
  });
  hog_stop = true;
  hog.join();
  sched_setaffinity(0, sizeof old, &old);
  EXPECT_STREQ(after.preempt_trigger, "perf");
  // (Less the retry timers' signals: at most one per deferral.)
  std::uint64_t fires = (after.trigger_fires - before.trigger_fires) -
                        (after.trigger_retries - before.trigger_retries);
  EXPECT_GT(fires, 0u);
  ASSERT_LT(runtime_cpu, 0.8 * wall) << "the hog got no CPU: nothing to tell apart";
  // One overflow per 1 ms of an M's on-CPU time (one period more per M at most, and 10 %
  // for the two clocks, read at different moments; a wall-clock trigger would be near 2x).
  EXPECT_LE(static_cast<double>(fires), 1.1 * runtime_cpu + after.threads)
      << fires << " overflows in " << runtime_cpu << " ms of CPU, " << wall << " ms of wall time";
}

// Unavailable: one line, and sysmon preempts.
TEST(TriggerFallback, AsyncPreemptionOffSaysSoAndSysmonPreempts) {
  test::ScopedEnv trigger("URGENT_PREEMPT", "timer");
  test::ScopedEnv godebug("GODEBUG", "asyncpreemptoff=1");
  std::string err;
  int status = child_falls_back_to_sysmon(&err);
  EXPECT_EQ(status, 0) << err;
  std::string line = "urgent: URGENT_PREEMPT=timer unavailable: asynchronous preemption is off";
  ASSERT_NE(err.find(line), std::string::npos) << err;
  EXPECT_EQ(err.find(line), err.rfind(line)) << "said once: " << err;
  EXPECT_NE(err.find("; preempting from sysmon"), std::string::npos) << err;
}

TEST(TriggerFallback, PerfForbiddenBySeccompSaysSoAndSysmonPreempts) {
  URGENT_REQUIRE_ASYNC_PREEMPTION();
  test::ScopedEnv trigger("URGENT_PREEMPT", "perf");
  test::ScopedEnv slice("URGENT_TIMESLICE", "1ms");
  std::string err;
  int status = test::in_child(
      [] {
        if (int e = test::forbid_perf_event_open(); e != 0) return e;
        SchedStats st = spinner_and_sleeper();
        if (std::string(st.preempt_trigger) != "sysmon") return 11;
        return st.preempt_signals > 0 ? 0 : 12;  // sysmon's tgkills did it
      },
      &err);
  EXPECT_EQ(status, 0) << err;
  EXPECT_NE(err.find("urgent: URGENT_PREEMPT=perf unavailable: perf_event_open(PERF_COUNT_SW_TASK_CLOCK)"),
            std::string::npos)
      << err;
}

// A slice shorter than the kernel's sampling limit allows would be throttled: refused.
TEST(TriggerFallback, PerfSliceAboveTheSampleRateLimitIsRefused) {
  URGENT_REQUIRE_ASYNC_PREEMPTION();
  long rate = 0;
  if (FILE* f = std::fopen("/proc/sys/kernel/perf_event_max_sample_rate", "r")) {
    if (std::fscanf(f, "%ld", &rate) != 1) rate = 0;
    std::fclose(f);
  }
  if (rate <= 0 || 1'000'000'000 / rate <= 10'000) {
    GTEST_SKIP() << "kernel.perf_event_max_sample_rate " << rate << " allows a 10 us slice";
  }
  test::ScopedEnv trigger("URGENT_PREEMPT", "perf");
  test::ScopedEnv slice("URGENT_TIMESLICE", "10us");
  std::string err;
  int status = child_falls_back_to_sysmon(&err);
  EXPECT_EQ(status, 0) << err;
  EXPECT_NE(err.find("above kernel.perf_event_max_sample_rate"), std::string::npos) << err;
}

TEST(TriggerConfig, BadValueWarnsAndUsesSysmon) {
  test::ScopedEnv trigger("URGENT_PREEMPT", "hrtimer");
  std::string err;
  int status = child_falls_back_to_sysmon(&err);
  EXPECT_EQ(status, 0) << err;
  EXPECT_NE(err.find("urgent: ignoring URGENT_PREEMPT=\"hrtimer\": not sysmon, timer or perf; "
                     "using sysmon"),
            std::string::npos)
      << err;
}

INSTANTIATE_TEST_SUITE_P(Triggers, Trigger, ::testing::Values("timer", "perf"),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           return std::string(i.param);
                         });

}  // namespace
}  // namespace urgent
