// tests/context_test.cc: what the context switch preserves per goroutine (arch/x86_64).
#include <fenv.h>
#include <gtest/gtest.h>
#include <urgent/urgent.h>

#include <atomic>

#include "test_util.h"

namespace urgent {
namespace {

std::uint32_t read_mxcsr() {
  std::uint32_t v;
  asm volatile("stmxcsr %0" : "=m"(v));
  return v;
}

std::uint16_t read_fpu_cw() {
  std::uint16_t v;
  asm volatile("fnstcw %0" : "=m"(v));
  return v;
}

// One goroutine rounds upward (MXCSR and the x87 control word both change), the others
// keep the default; every one must see its own mode after every switch, on any thread, and
// new goroutines must start with the default even on a stack a rounding-up one left.
class FloatingPointControl : public testing::TestWithParam<int> {};

TEST_P(FloatingPointControl, IsPerGoroutine) {
  std::atomic<int> bad_up{0}, bad_default{0}, bad_new{0};
  test::run_with(GetParam(), [&] {
    const std::uint32_t mxcsr0 = read_mxcsr();
    const std::uint16_t cw0 = read_fpu_cw();
    WaitGroup all;
    all.add(4);  // the three default ones and the upward one's successor
    urgent::go([&] {
      fesetround(FE_UPWARD);
      const std::uint32_t mxcsr_up = read_mxcsr();
      const std::uint16_t cw_up = read_fpu_cw();
      for (int i = 0; i < 20000; i++) {
        urgent::gosched();
        if (read_mxcsr() != mxcsr_up || read_fpu_cw() != cw_up || fegetround() != FE_UPWARD) {
          bad_up++;
        }
      }
      // Exits rounding upward with a never-run goroutine in runnext: that one starts on
      // this very stack (urgent_ctx_restart) and must still get the default modes.
      urgent::go([&] {
        if (read_mxcsr() != mxcsr0 || read_fpu_cw() != cw0) bad_new++;
        all.done();
      });
    });
    for (int k = 0; k < 3; k++) {
      urgent::go([&] {
        for (int i = 0; i < 20000; i++) {
          urgent::gosched();
          if (read_mxcsr() != mxcsr0 || read_fpu_cw() != cw0) bad_default++;
          if (i % 100 == 0) {
            urgent::go([&] {
              if (read_mxcsr() != mxcsr0 || read_fpu_cw() != cw0) bad_new++;
            });
          }
        }
        all.done();
      });
    }
    all.wait();
  });
  EXPECT_EQ(bad_up.load(), 0);
  EXPECT_EQ(bad_default.load(), 0);
  EXPECT_EQ(bad_new.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Procs, FloatingPointControl, testing::Values(1, 2));

}  // namespace
}  // namespace urgent
