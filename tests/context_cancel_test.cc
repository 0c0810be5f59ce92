// tests/context_cancel_test.cc: Go's context semantics.
#include <gtest/gtest.h>
#include <urgent/urgent.h>

#include <chrono>
#include <string>

#include "test_util.h"

namespace urgent {
namespace {

using namespace std::chrono_literals;

TEST(Context, BackgroundIsNeverDone) {
  bool ready = true;
  ContextError err = ContextError::kCanceled;
  urgent::run([&] {
    Context bg = Context::background();
    err = bg.err();
    ready = bg.done().try_recv().has_value() || !bg.done().is_nil();
  });
  EXPECT_EQ(err, ContextError::kNone);
  EXPECT_FALSE(ready);
}

TEST(Context, CancelPropagatesToChildrenNotParents) {
  std::vector<ContextError> errs;
  test::run_with(2, [&] {
    auto [parent, cancel_parent] = with_cancel(Context::background());
    auto [child, cancel_child] = with_cancel(parent);
    auto [grandchild, cancel_gc] = with_cancel(child);
    auto [sibling, cancel_sibling] = with_cancel(parent);
    cancel_child();
    grandchild.done().recv();  // closed: returns at once
    errs = {parent.err(), child.err(), grandchild.err(), sibling.err()};
    cancel_parent();
    sibling.done().recv();
    errs.push_back(sibling.err());
    cancel_gc();
    cancel_sibling();
    cancel_parent();  // idempotent
  });
  EXPECT_EQ(errs, (std::vector<ContextError>{ContextError::kNone, ContextError::kCanceled,
                                             ContextError::kCanceled, ContextError::kNone,
                                             ContextError::kCanceled}));
  EXPECT_STREQ(to_string(ContextError::kCanceled), "context canceled");
}

TEST(Context, DeadlineExpiresAndWakesSelect) {
  ContextError err = ContextError::kNone;
  bool deadline_set = false;
  std::chrono::milliseconds waited{0};
  test::run_with(2, [&] {
    auto t0 = Clock::now();  // before the deadline is armed: it can only be later than this
    auto [ctx, cancel] = with_timeout(Context::background(), 20ms);
    deadline_set = ctx.deadline().has_value();
    Chan<int> never;
    urgent::select(case_recv(never, [] {}), case_recv(ctx.done(), [] {}));
    waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    err = ctx.err();
    cancel();
  });
  EXPECT_TRUE(deadline_set);
  EXPECT_EQ(err, ContextError::kDeadlineExceeded);
  EXPECT_GE(waited.count(), 20);
  EXPECT_STREQ(to_string(err), "context deadline exceeded");
}

TEST(Context, ChildOfCanceledParentIsBornCanceledAndEarlierDeadlineWins) {
  std::vector<ContextError> errs;
  bool inherits = false;
  test::run_with(1, [&] {
    auto [parent, cancel] = with_cancel(Context::background());
    cancel();
    auto [child, cancel_child] = with_timeout(parent, 1h);
    errs.push_back(child.err());
    auto [p2, cancel2] = with_timeout(Context::background(), 10ms);
    auto [c2, cancel_c2] = with_timeout(p2, 1h);
    inherits = c2.deadline() == p2.deadline();
    c2.done().recv();
    errs.push_back(c2.err());
    cancel_child();
    cancel2();
    cancel_c2();
  });
  EXPECT_EQ(errs,
            (std::vector<ContextError>{ContextError::kCanceled, ContextError::kDeadlineExceeded}));
  EXPECT_TRUE(inherits);
}

TEST(Context, EarlyCancelStopsTheDeadline) {
  ContextError err = ContextError::kNone;
  test::run_with(2, [&] {
    auto [ctx, cancel] = with_timeout(Context::background(), 10ms);
    cancel();
    sleep_for(30ms);
    err = ctx.err();
  });
  EXPECT_EQ(err, ContextError::kCanceled);
}

}  // namespace
}  // namespace urgent
