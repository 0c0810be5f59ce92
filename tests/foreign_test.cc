// tests/foreign_test.cc: urgent from threads that run no goroutine: outside urgent::run, and
// threads the program started itself (std::thread) during a run.
//
// What does not block works from any thread (a send to a waiting receiver, try_send,
// close, unlocking a Mutex with waiters): the goroutines it readies go to the global run
// queue. What would park is a fatal error that names the call: only goroutines park. And
// while such a thread exists it may still ready a goroutine, so "all goroutines are
// asleep" is not reported until it has gone.
#include <gtest/gtest.h>
#include <urgent/urgent.h>

#include <chrono>
#include <thread>

#include "test_util.h"

namespace urgent {
namespace {

using namespace std::chrono_literals;

// A plain thread sends to the parked main goroutine after a while: meanwhile every
// goroutine is asleep, which is not a deadlock while that thread exists.
TEST(ForeignThreadDeathTest, SendsToAParkedGoroutineWithoutAFalseDeadlock) {
  EXPECT_EXIT(
      {
        int got = test::run_with(1, [] {
          Chan<int> c;
          std::thread t([c]() mutable {
            std::this_thread::sleep_for(50ms);
            c.send(42);  // main is parked in recv: a direct handoff, no park here
          });
          int v = *c.recv();
          t.join();
          return v;
        });
        std::exit(got == 42 ? 0 : 3);
      },
      testing::ExitedWithCode(0), "");
}

// The same from a thread that existed before urgent::run, through a Mutex and a Cond.
TEST(ForeignThreadDeathTest, UnlocksAndSignalsForParkedGoroutines) {
  EXPECT_EXIT(
      {
        Mutex mu;
        mu.lock();  // outside run: uncontended, no goroutine needed
        std::thread t([&mu] {
          std::this_thread::sleep_for(50ms);
          mu.unlock();  // the waiting goroutine is readied from here
        });
        int got = test::run_with(2, [&mu] {
          mu.lock();
          mu.unlock();
          return 7;
        });
        t.join();
        std::exit(got == 7 ? 0 : 3);
      },
      testing::ExitedWithCode(0), "");
}

// A thread that goes away without readying anyone: the deadlock is reported once it is gone.
TEST(ForeignThreadDeathTest, DeadlockIsReportedOnceTheThreadIsGone) {
  EXPECT_EXIT(test::run_with(1,
                             [] {
                               std::thread t([] { std::this_thread::sleep_for(50ms); });
                               t.detach();
                               Chan<int> never;
                               never.recv();
                             }),
              testing::ExitedWithCode(2),
              "fatal error: all goroutines are asleep - deadlock!\n\n"
              "goroutine 1 \\[chan receive\\]:");
}

// Non-blocking operations from a plain thread during a run.
TEST(ForeignThread, NonBlockingOperationsWork) {
  std::vector<int> got;
  test::run_with(2, [&] {
    Chan<int> buf(2), done;
    std::thread t([&] {
      got.push_back(buf.try_send(1));
      got.push_back(buf.try_send(2));
      got.push_back(buf.try_send(3));  // full
      got.push_back(*buf.try_recv());
      buf.send(4);  // room: does not block
      done.close();
    });
    done.recv();  // closed by the thread: readies us
    t.join();
    got.push_back(*buf.recv());
    got.push_back(*buf.recv());
  });
  EXPECT_EQ(got, (std::vector<int>{1, 1, 0, 1, 2, 4}));
}

// Calls that would park, outside urgent::run: Go's fatal error, naming the call.
TEST(OutsideRunDeathTest, BlockingCallsAreFatalAndSayWhich) {
  EXPECT_EXIT(Chan<int>().recv(), testing::ExitedWithCode(2),
              "fatal error: urgent::Chan::recv called outside urgent::run");
  EXPECT_EXIT(Chan<int>().send(1), testing::ExitedWithCode(2),
              "fatal error: urgent::Chan::send called outside urgent::run");
  EXPECT_EXIT(Chan<int>(nullptr).recv(), testing::ExitedWithCode(2),
              "fatal error: urgent::Chan::recv called outside urgent::run");
  EXPECT_EXIT(
      {
        Chan<int> c;
        urgent::select(case_recv(c, [] {}));
      },
      testing::ExitedWithCode(2), "fatal error: urgent::select called outside urgent::run");
  EXPECT_EXIT(
      {
        Mutex mu;
        mu.lock();
        mu.lock();
      },
      testing::ExitedWithCode(2), "fatal error: urgent::Mutex::lock called outside urgent::run");
  EXPECT_EXIT(
      {
        WaitGroup wg;
        wg.add(1);
        wg.wait();
      },
      testing::ExitedWithCode(2),
      "fatal error: urgent::WaitGroup::wait called outside urgent::run");
  EXPECT_EXIT(sleep_for(1ms), testing::ExitedWithCode(2),
              "fatal error: urgent::sleep_for called outside urgent::run");
  EXPECT_EXIT(urgent::pipe(), testing::ExitedWithCode(2),
              "fatal error: urgent::pipe called outside urgent::run");
  EXPECT_EXIT(net::listen("127.0.0.1:0"), testing::ExitedWithCode(2),
              "fatal error: urgent::net::listen called outside urgent::run");
  EXPECT_EXIT(net::dial("127.0.0.1:1"), testing::ExitedWithCode(2),
              "fatal error: urgent::net::dial called outside urgent::run");
  EXPECT_EXIT(File::adopt(0), testing::ExitedWithCode(2),
              "fatal error: urgent::File::adopt called outside urgent::run");
}

// The same calls from a plain thread during a run.
TEST(ForeignThreadDeathTest, BlockingCallsAreFatalAndSayWhich) {
  auto from_a_thread = [](auto call) {
    test::run_with(2, [call] {
      std::thread t(call);
      t.join();
    });
  };
  const char* kWhere = " called on a thread that runs no goroutine";
  EXPECT_EXIT(from_a_thread([] { Chan<int>().recv(); }), testing::ExitedWithCode(2),
              std::string("fatal error: urgent::Chan::recv") + kWhere);
  EXPECT_EXIT(from_a_thread([] { sleep_for(1ms); }), testing::ExitedWithCode(2),
              std::string("fatal error: urgent::sleep_for") + kWhere);
  EXPECT_EXIT(from_a_thread([] {
                auto [r, w] = urgent::pipe();  // creating works: the poller exists
                char b;
                r.read(&b, 1);  // parking does not
              }),
              testing::ExitedWithCode(2),
              std::string("fatal error: urgent::File or urgent::net I/O") + kWhere);
}

}  // namespace
}  // namespace urgent
