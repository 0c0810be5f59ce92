// tests/config_test.cc: GOMAXPROCS, URGENT_STACK, URGENT_LOG, URGENT_TIMESLICE, URGENT_TRACE,
// URGENT_TRACE_MEM, URGENT_BPF and GODEBUG
// parsing.
#include <gtest/gtest.h>
#include <urgent/urgent.h>

#include <string>

#include "env.h"
#include "stack.h"
#include "test_util.h"

namespace urgent::rt {
namespace {

TEST(ParseGomaxprocs, AcceptsPositiveIntegers) {
  std::string why;
  EXPECT_EQ(parse_gomaxprocs("1", &why), 1);
  EXPECT_EQ(parse_gomaxprocs("4", &why), 4);
  EXPECT_EQ(parse_gomaxprocs("256", &why), 256);
}

TEST(ParseGomaxprocs, RejectsEverythingElse) {
  for (const char* bad : {"", "0", "-1", "abc", "4x", " 4", "4 ", "1.5", "99999999999"}) {
    std::string why;
    EXPECT_FALSE(parse_gomaxprocs(bad, &why).has_value()) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(ParseSize, Units) {
  std::string why;
  EXPECT_EQ(parse_size("65536", &why), 65536u);
  EXPECT_EQ(parse_size("64k", &why), 65536u);
  EXPECT_EQ(parse_size("64K", &why), 65536u);
  EXPECT_EQ(parse_size("64KiB", &why), 65536u);
  EXPECT_EQ(parse_size("64kB", &why), 65536u);
  EXPECT_EQ(parse_size("1M", &why), 1u << 20);
  EXPECT_EQ(parse_size("1MiB", &why), 1u << 20);
  EXPECT_EQ(parse_size("1g", &why), 1u << 30);
  for (const char* bad : {"", "k", "12q", "1.5M", "-4k", "64KiBs", "99999999999999999999"}) {
    EXPECT_FALSE(parse_size(bad, &why).has_value()) << bad;
  }
}

using test::ScopedEnv;

TEST(ParseDuration, GoUnits) {
  std::string why;
  EXPECT_EQ(parse_duration("10ms", &why), 10'000'000);
  EXPECT_EQ(parse_duration("100us", &why), 100'000);
  EXPECT_EQ(parse_duration("100\u00b5s", &why), 100'000);
  EXPECT_EQ(parse_duration("50000ns", &why), 50'000);
  EXPECT_EQ(parse_duration("1.5ms", &why), 1'500'000);
  EXPECT_EQ(parse_duration("2s", &why), 2'000'000'000);
  EXPECT_EQ(parse_duration("0.25s", &why), 250'000'000);
  for (const char* bad :
       {"", "10", "ms", "10 ms", "10mss", "-10ms", "10h", "1e3us", "99999999999999999999s"}) {
    why.clear();
    EXPECT_FALSE(parse_duration(bad, &why).has_value()) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(ParseGodebug, KnownSettings) {
  std::string why, bad;
  Godebug d;
  EXPECT_TRUE(parse_godebug("asyncpreemptoff=1", &d, &why, &bad));
  EXPECT_EQ(d.asyncpreemptoff, 1);
  EXPECT_TRUE(parse_godebug("gctrace=1,schedtrace=1000,x=y,scheddetail=1", &d, &why, &bad));
  EXPECT_EQ(d.schedtrace, 1000);
  EXPECT_EQ(d.scheddetail, 1);
  EXPECT_EQ(d.asyncpreemptoff, 1);  // untouched
  EXPECT_TRUE(parse_godebug("asyncpreemptoff=0,nonsense,gctrace=yes", &d, &why, &bad));
  EXPECT_EQ(d.asyncpreemptoff, 0);
  EXPECT_TRUE(bad.empty());  // unknown names, even with junk values, are not errors
  EXPECT_FALSE(parse_godebug("schedtrace=-5", &d, &why, &bad));
  EXPECT_EQ(bad, "-5");
  EXPECT_NE(why.find("schedtrace"), std::string::npos) << why;
  EXPECT_FALSE(parse_godebug("asyncpreemptoff=yes", &d, &why, &bad));
  EXPECT_EQ(bad, "yes");
}

// A bad item is skipped, not the rest of the list: the settings after it still apply, and
// the first bad one is the one reported. (Parsing stopped at the first bad item.)
TEST(ParseGodebug, ABadItemKeepsTheOthers) {
  std::string why, bad;
  Godebug d;
  EXPECT_FALSE(parse_godebug("schedtrace=oops,asyncpreemptoff=1,scheddetail=x,scheddetail=1", &d,
                             &why, &bad));
  EXPECT_EQ(d.asyncpreemptoff, 1);
  EXPECT_EQ(d.scheddetail, 1);
  EXPECT_EQ(d.schedtrace, 0);
  EXPECT_EQ(bad, "oops");
  EXPECT_NE(why.find("schedtrace"), std::string::npos) << why;
}

TEST(ReadConfig, TimesliceAndGodebugReachTheRuntime) {
  ScopedEnv slice("URGENT_TIMESLICE", "250us");
  ScopedEnv debug("GODEBUG", "asyncpreemptoff=1");
  std::chrono::nanoseconds seen{};
  bool async = true;
  test::run_with(1, [&] {
    seen = timeslice();
    async = async_preemption();
  });
  EXPECT_EQ(seen, std::chrono::microseconds(250));
  EXPECT_FALSE(async);
}

TEST(ReadConfig, BadTimesliceAndGodebugWarn) {
  ScopedEnv slice("URGENT_TIMESLICE", "5us");  // below the minimum
  ScopedEnv debug("GODEBUG", "asyncpreemptoff=maybe");
  testing::internal::CaptureStderr();
  Config cfg = read_config();
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(cfg.timeslice_ns, kDefaultTimesliceNs);
  EXPECT_FALSE(cfg.asyncpreemptoff);
  EXPECT_NE(err.find("URGENT_TIMESLICE=\"5us\""), std::string::npos) << err;
  EXPECT_NE(err.find("GODEBUG=\"asyncpreemptoff=maybe\""), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 2) << err;
}

TEST(ReadConfig, BadGomaxprocsWarnsAndUsesTheDefault) {
  ScopedEnv env("GOMAXPROCS", "lots");
  testing::internal::CaptureStderr();
  Config cfg = read_config();
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(cfg.gomaxprocs, getproccount());
  EXPECT_NE(err.find("GOMAXPROCS=\"lots\""), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << "one line: " << err;
}

TEST(ReadConfig, GoodValuesAreUsedSilently) {
  ScopedEnv procs("GOMAXPROCS", "3");
  ScopedEnv stack("URGENT_STACK", "128k");
  ScopedEnv log("URGENT_LOG", "warn");
  testing::internal::CaptureStderr();
  Config cfg = read_config();
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(cfg.gomaxprocs, 3);
  EXPECT_EQ(cfg.stack_size, 128u * 1024);
  EXPECT_EQ(cfg.log_level, "warn");
}

TEST(ReadConfig, TraceSettings) {
  {
    ScopedEnv path("URGENT_TRACE", "t.out");
    ScopedEnv mem("URGENT_TRACE_MEM", "1MiB");
    ScopedEnv bpf("URGENT_BPF", "1");
    Config cfg = read_config();
    EXPECT_EQ(cfg.trace_path, "t.out");
    EXPECT_EQ(cfg.trace_mem, std::size_t{1} << 20);
    EXPECT_TRUE(cfg.observe);
  }
  ScopedEnv mem("URGENT_TRACE_MEM", "4KiB");  // below the minimum
  ScopedEnv bpf("URGENT_BPF", "yes");
  testing::internal::CaptureStderr();
  Config cfg = read_config();
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(cfg.trace_mem, kDefaultTraceMem);
  EXPECT_FALSE(cfg.observe);
  EXPECT_NE(err.find("URGENT_TRACE_MEM=\"4KiB\": must be between 64KiB and 64GiB; using 64MiB"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("URGENT_BPF=\"yes\": not 0 or 1"), std::string::npos) << err;
}

TEST(ReadConfig, BadStackAndLogWarn) {
  ScopedEnv stack("URGENT_STACK", "4k");  // below the minimum
  ScopedEnv log("URGENT_LOG", "loud");
  testing::internal::CaptureStderr();
  Config cfg = read_config();
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(cfg.stack_size, default_stack_size());
  EXPECT_EQ(cfg.log_level, "off");
  EXPECT_NE(err.find("URGENT_STACK=\"4k\""), std::string::npos) << err;
  EXPECT_NE(err.find("URGENT_LOG=\"loud\""), std::string::npos) << err;
}

TEST(ReadConfig, GomaxprocsFromTheEnvironmentReachesTheRuntime) {
  int seen = 0;
  test::run_with(3, [&] { seen = gomaxprocs(0); });
  EXPECT_EQ(seen, 3);
}

TEST(ReadConfig, UrgentLogTurnsOnDiagnostics) {
  testing::internal::CaptureStderr();
  {
    ScopedEnv log("URGENT_LOG", "debug");
    test::run_with(2, [] {});
  }
  std::string on = testing::internal::GetCapturedStderr();
  testing::internal::CaptureStderr();
  test::run_with(2, [] {});
  std::string off = testing::internal::GetCapturedStderr();
  EXPECT_NE(on.find("runtime started: GOMAXPROCS=2"), std::string::npos) << on;
  EXPECT_EQ(off, "");
}

TEST(ReadConfig, StackSizeReachesTheAllocator) {
  ScopedEnv stack("URGENT_STACK", "96KiB");
  std::size_t size = 0;
  std::uintptr_t lo = 0, hi = 0;
  urgent::run([&] {
    size = stack_size();
    int local = 0;
    hi = reinterpret_cast<std::uintptr_t>(&local);
    lo = hi - size;
  });
  EXPECT_EQ(size, 96u * 1024);
  EXPECT_NE(lo, 0u);
}

}  // namespace
}  // namespace urgent::rt
