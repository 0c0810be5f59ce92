// tests/handoff_test.cc: URGENT_HANDOFF, kernel-assisted P handoff (runtime/activation.cc).
//
// Every mode (poll: sysmon's rule; perf: a context-switch event per M; bpf: a sched_switch
// program) must hand a blocked goroutine's P to another M and keep it for calls that do not
// block; an unavailable mode falls back to poll with one line. No wall-clock thresholds:
// orderings (B ran before A's call returned) and counters (who handed the P off).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <urgent/urgent.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "checker.h"
#include "cmd/urgent-trace/reader.h"
#include "sanitizer.h"
#include "test_util.h"

namespace urgent {
namespace {

using namespace std::chrono_literals;

using test::Pipe;

// Why `mode` cannot be tested here ("" if it can).
std::string unavailable(const std::string& mode) {
  if (mode == "poll") return "";
  if (rt::kTsan) return "ThreadSanitizer: perf and bpf fall back to poll (activation.cc)";
  if (mode == "bpf" && geteuid() != 0) return "bpf needs root";
  return "";
}

// The seed scenario at GOMAXPROCS=1: A blocks in read(2) through urgent::blocking, B is
// runnable meanwhile and only another M can run it; A's byte is written once B ran.
struct BlockedRead {
  bool b_before_a = false;
  bool a_got_byte = false;
  SchedStats before{}, after{};
};

BlockedRead blocked_read() {
  // Go's 10 ms slice, whatever the suite runs with: a goroutine past its slice in a call
  // loses its P to sysmon at once (in every mode, as in Go), and the test is about the mode.
  test::ScopedEnv slice("URGENT_TIMESLICE", "10ms");
  Pipe p;
  BlockedRead out;
  std::atomic<bool> b_ran{false};
  std::thread writer([&] {
    auto deadline = std::chrono::steady_clock::now() + 10s;  // only a frozen P reaches it
    while (!b_ran.load() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    if (::write(p.w, "x", 1) != 1) std::abort();
  });
  std::atomic<bool> a_returned{false};
  test::run_with(1, [&] {
    out.before = sched_stats();
    WaitGroup wg;
    wg.add(2);
    urgent::go([&] {  // A
      urgent::go([&] {  // B
        out.b_before_a = !a_returned.load();
        b_ran = true;
        wg.done();
      });
      char c = 0;
      out.a_got_byte = blocking([&] { return ::read(p.r, &c, 1); }) == 1 && c == 'x';
      a_returned = true;
      wg.done();
    });
    wg.wait();
    out.after = sched_stats();
  });
  writer.join();
  return out;
}

class Handoff : public ::testing::TestWithParam<const char*> {};

TEST_P(Handoff, BlockedReadHandsItsPOffAtGomaxprocs1) {
  std::string mode = GetParam();
  if (std::string why = unavailable(mode); !why.empty()) GTEST_SKIP() << why;
  test::ScopedEnv env("URGENT_HANDOFF", mode.c_str());
  BlockedRead r = blocked_read();
  EXPECT_TRUE(r.a_got_byte);
  EXPECT_TRUE(r.b_before_a) << "B waited for A's system call";
  EXPECT_STREQ(r.after.handoff, mode.c_str());
  if (mode == "poll") {
    EXPECT_GE(r.after.handoffs - r.before.handoffs, 1u);
    EXPECT_EQ(r.after.handoffs_activated, 0u);
    EXPECT_EQ(r.after.activations, 0u);
  } else {
    // The kernel's signal woke a spare, which took the P (sysmon's backstop waits 10 ms).
    EXPECT_GE(r.after.handoffs_activated - r.before.handoffs_activated, 1u);
    EXPECT_GE(r.after.activations, 1u);
  }
}

// A loop of calls that never leave the CPU (getpid) at GOMAXPROCS=1, with a goroutine
// waiting for the P all along: no mode hands the P off. (With a slice longer than the loop:
// a goroutine past its slice in a call loses its P to sysmon in every mode, as in Go.)
TEST_P(Handoff, ShortCallLoopKeepsItsP) {
  std::string mode = GetParam();
  if (std::string why = unavailable(mode); !why.empty()) GTEST_SKIP() << why;
  test::ScopedEnv env("URGENT_HANDOFF", mode.c_str());
  test::ScopedEnv slice("URGENT_TIMESLICE", "10s");
  constexpr std::uint64_t kCalls = 200'000;
  SchedStats before{}, after{};
  test::run_with(1, [&] {
    for (int i = 0; i < 1000; i++) blocking([] { return ::syscall(SYS_getpid); });  // warm-up
    std::atomic<bool> done{false};
    WaitGroup wg;
    wg.add(1);
    urgent::go([&] {  // runnable while the loop runs: a handoff would start it
      while (!done.load()) urgent::gosched();
      wg.done();
    });
    before = sched_stats();
    for (std::uint64_t i = 0; i < kCalls; i++) blocking([] { return ::syscall(SYS_getpid); });
    after = sched_stats();
    done = true;
    wg.wait();
  });
  EXPECT_EQ(after.syscalls - before.syscalls, kCalls);
  // sysmon: Go's rule retakes a call it sees on two ticks (20 µs apart), so one the vCPU was
  // stalled in (an interrupt's exit to the hypervisor costs 20-30 µs here) looks blocked; in
  // the kernel modes only a call 10 ms old (the M starved of CPU by other processes).
  EXPECT_LE(after.handoffs - before.handoffs, kCalls / 10'000);
  // The kernel modes know the thread never left the CPU to sleep: never a spare's handoff.
  EXPECT_EQ(after.handoffs_activated - before.handoffs_activated, 0u);
}

// A plain ::read (not urgent::blocking) while holding the only P: the kernel sees it, the
// runtime reports it (counter, trace event) and leaves the P where it is.
TEST_P(Handoff, UnwrappedBlockIsReported) {
  std::string mode = GetParam();
  if (mode == "poll") GTEST_SKIP() << "poll has no kernel view of the M";
  if (std::string why = unavailable(mode); !why.empty()) GTEST_SKIP() << why;
  test::ScopedEnv env("URGENT_HANDOFF", mode.c_str());
  std::string path = ::testing::TempDir() + "unwrapped-" + mode + ".trace";
  test::ScopedEnv trace("URGENT_TRACE", path.c_str());
  // (Under a preemption storm every SIGURG would cut the read into pieces.)
  test::ScopedEnv slice("URGENT_TIMESLICE", "10ms");
  Pipe p;
  std::atomic<bool> reading{false};
  std::thread writer([&] {
    while (!reading.load()) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(30ms);
    if (::write(p.w, "x", 1) != 1) std::abort();
  });
  SchedStats after{};
  bool b_ran_during = true;
  test::run_with(1, [&] {
    std::atomic<bool> read_done{false};
    WaitGroup wg;
    wg.add(1);
    urgent::go([&] {  // runnable during the read: it cannot run, the P is not given away
      b_ran_during = !read_done.load();
      wg.done();
    });
    reading = true;
    char c;
    EXPECT_EQ(::read(p.r, &c, 1), 1);
    read_done = true;
    wg.wait();
    // sysmon reports a block once it ended: wait for its tick (bounded). (Short blocks of
    // the thread before the read may be reported first.)
    for (int i = 0; i < 2000 && sched_stats().unwrapped_block_ns < 1'000'000u; i++) sleep_for(1ms);
    after = sched_stats();
  });
  writer.join();
  EXPECT_FALSE(b_ran_during);
  EXPECT_GE(after.unwrapped_blocks, 1u);
  EXPECT_GE(after.unwrapped_block_ns, 1'000'000u) << "the read blocked for at least 30 ms";
  EXPECT_EQ(after.handoffs_activated, 0u);
  tracetool::Trace t;
  std::string error;
  ASSERT_TRUE(tracetool::read_trace(path, &t, &error)) << error;
  int long_with_runnable = 0;  // (other, short blocks may be reported too)
  for (const tracetool::Event& e : t.events) {
    if (e.type == tracefmt::Ev::kUnwrappedBlock && e.args[1] >= 1'000'000u && e.args[2] == 1) {
      long_with_runnable++;
    }
  }
  EXPECT_GE(long_with_runnable, 1) << "the read, while goroutine B was runnable";
  // The checker's line for it (from the trace alone: no kernel records needed).
  bpf::CheckReport r = bpf::check(t, bpf::Observations{});
  EXPECT_GE(r.unwrapped.size(), 1u);
  std::string text = bpf::check_text(r);
  EXPECT_NE(text.find("outside urgent::blocking while G's were runnable"), std::string::npos)
      << text;
  EXPECT_NE(bpf::check_json(r).find("\"unwrapped_blocks\":{\"count\":"), std::string::npos);
  std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Modes, Handoff, ::testing::Values("poll", "perf", "bpf"),
                         [](const auto& info) { return std::string(info.param); });

// Exit status of a child that ran the blocked-read scenario: 0 if B ran while A's read
// blocked and the P was handed off in the mode `want` ("poll": by sysmon).
int blocked_read_in(const char* want) {
  BlockedRead r = blocked_read();
  if (!r.a_got_byte || !r.b_before_a) return 10;
  if (std::strcmp(r.after.handoff, want) != 0) return 11;
  bool by_kernel = r.after.handoffs_activated > r.before.handoffs_activated;
  bool by_sysmon = r.after.handoffs > r.before.handoffs;
  if (std::strcmp(want, "poll") == 0 ? !by_sysmon : !by_kernel) return 12;
  return 0;
}

std::string mode_line(const char* mode) {
  return std::string("urgent: URGENT_HANDOFF=") + mode + " unavailable: ";
}

// perf needs no privilege (perf_event_paranoid <= 2): as nobody it still hands off.
TEST(HandoffPerf, WorksUnprivileged) {
  if (std::string why = unavailable("perf"); !why.empty()) GTEST_SKIP() << why;
  if (geteuid() != 0) GTEST_SKIP() << "already unprivileged: covered by Modes/Handoff.*/perf";
  test::ScopedEnv env("URGENT_HANDOFF", "perf");
  std::string err;
  int status = test::in_child([] { return test::drop_privileges() != 0 ? 20 : blocked_read_in("perf"); }, &err);
  EXPECT_EQ(status, 0) << err;
  EXPECT_EQ(err.find("URGENT_HANDOFF=perf unavailable"), std::string::npos) << err;
}

// bpf without root: one line, and the P is still handed off, by polling.
TEST(HandoffFallback, BpfWithoutRootPollsWithOneLine) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to drop it";
  test::ScopedEnv env("URGENT_HANDOFF", "bpf");
  std::string err;
  int status = test::in_child([] { return test::drop_privileges() != 0 ? 20 : blocked_read_in("poll"); }, &err);
  EXPECT_EQ(status, 0) << err;
  std::string line = mode_line("bpf");
  ASSERT_NE(err.find(line), std::string::npos) << err;
  EXPECT_EQ(err.find(line), err.rfind(line)) << "said once: " << err;
  EXPECT_NE(err.find("handing off by polling (sysmon)"), std::string::npos) << err;
}

TEST(HandoffFallback, PerfForbiddenBySeccompPollsWithOneLine) {
  test::ScopedEnv env("URGENT_HANDOFF", "perf");
  std::string err;
  int status = test::in_child(
      [] {
        int e = test::forbid_perf_event_open();
        return e != 0 ? e : blocked_read_in("poll");
      },
      &err);
  EXPECT_EQ(status, 0) << err;
  std::string line = mode_line("perf");
  ASSERT_NE(err.find(line), std::string::npos) << err;
  EXPECT_EQ(err.find(line), err.rfind(line)) << "said once: " << err;
  if (!rt::kTsan) {
    EXPECT_NE(err.find("perf_event_open"), std::string::npos) << err;
  }
}

// auto: the best mode available (perf, then bpf), said once at URGENT_LOG=info; with perf
// forbidden and no root, poll.
TEST(HandoffAuto, SaysItsChoiceOnceAtInfo) {
  test::ScopedEnv env("URGENT_HANDOFF", "auto");
  test::ScopedEnv log("URGENT_LOG", "info");
  std::string err;
  int status = test::in_child(
      [] {
        return blocked_read_in(rt::kTsan ? "poll" : "perf");
      },
      &err);
  EXPECT_EQ(status, 0) << err;
  const char* want = rt::kTsan ? "poll" : "perf";
  std::string said = std::string("URGENT_HANDOFF=auto: ") + want;
  EXPECT_NE(err.find(said), std::string::npos) << err;
  EXPECT_EQ(err.find("URGENT_HANDOFF=auto"), err.rfind("URGENT_HANDOFF=auto")) << err;

  err.clear();
  status = test::in_child(
      [] {
        if (int e = test::forbid_perf_event_open(); e != 0) return e;
        if (geteuid() == 0 && test::drop_privileges() != 0) return 20;
        return blocked_read_in("poll");
      },
      &err);
  EXPECT_EQ(status, 0) << err;
  EXPECT_NE(err.find("URGENT_HANDOFF=auto: poll"), std::string::npos) << err;
  EXPECT_EQ(err.find("URGENT_HANDOFF=perf unavailable"), std::string::npos) << "auto is not an error: " << err;
  EXPECT_EQ(err.find("URGENT_HANDOFF=auto unavailable"), std::string::npos) << "auto is not an error: " << err;
}

TEST(HandoffConfig, BadValueWarnsAndPolls) {
  test::ScopedEnv env("URGENT_HANDOFF", "kernel");
  std::string err;
  int status = test::in_child([] { return blocked_read_in("poll"); }, &err);
  EXPECT_EQ(status, 0) << err;
  EXPECT_NE(err.find("urgent: ignoring URGENT_HANDOFF=\"kernel\": not poll, perf, bpf or auto; "
                     "using poll"),
            std::string::npos)
      << err;
}

}  // namespace
}  // namespace urgent
