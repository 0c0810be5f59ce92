// tests/rerun_test.cc: urgent::run can be called again; what an earlier run leaves behind.
//
// When main returns, goroutines still waiting are abandoned (as in Go when main returns),
// their stacks and descriptors freed. Objects they waited on may outlive the run: the
// runtime's own tables (semaphores, timer heaps) and the objects' wait queues must forget
// those waiters, so that the next run (or a destructor after the run) never touches them.
#include <gtest/gtest.h>
#include <urgent/urgent.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <optional>
#include <vector>

#include "test_util.h"

namespace urgent {
namespace {

using namespace std::chrono_literals;

// Mutexes, a WaitGroup and a Cond with waiters abandoned by run 1, then lots of
// semaphore traffic on fresh addresses in run 2 (any of the 251 roots may have held a dead
// waiter), and the old objects released.
TEST(Rerun, SemaphoreWaitersOfAnEarlierRunAreForgotten) {
  static Mutex held[64];
  static Mutex cond_mu;
  static Cond cond(cond_mu);
  static WaitGroup wg_old;
  test::run_with(2, [] {
    for (auto& m : held) m.lock();
    for (auto& m : held) go([&m] { m.lock(); });
    for (int i = 0; i < 8; i++) {
      go([] {
        cond_mu.lock();
        cond.wait();
        cond_mu.unlock();
      });
    }
    wg_old.add(1);
    go([] { wg_old.wait(); });
    for (int i = 0; i < 200; i++) gosched();  // let them all park
  });
  bool done = false;
  test::run_with(2, [&] {
    std::vector<std::unique_ptr<Mutex>> fresh;
    for (int i = 0; i < 512; i++) fresh.push_back(std::make_unique<Mutex>());
    WaitGroup wg;
    wg.add(4);
    for (int g = 0; g < 4; g++) {
      go([&] {
        for (int r = 0; r < 100; r++) {
          for (auto& m : fresh) {
            m->lock();
            m->unlock();
          }
        }
        wg.done();
      });
    }
    wg.wait();
    for (auto& m : held) m.unlock();  // their waiters are gone: nobody to wake
    // A new waiter on the Cond is woken by one signal: the dead ones' tickets do not count.
    std::atomic<bool> woke{false};
    go([&] {
      cond_mu.lock();
      cond.wait();
      cond_mu.unlock();
      woke = true;
    });
    for (int i = 0; i < 50; i++) gosched();  // let it wait
    cond.signal();
    ASSERT_TRUE(test::yield_until([&] { return woke.load(); }, 1'000'000));
    wg_old.done();
    done = true;
  });
  EXPECT_TRUE(done);
}

// A channel with a receiver and a sender abandoned in run 1 works in run 2: the dead
// waiters are not handed values.
TEST(Rerun, ChannelWaitersOfAnEarlierRunAreForgotten) {
  std::optional<Chan<int>> unbuffered, full;
  test::run_with(1, [&] {
    {
      test::AbandonedOnPurpose abandoned;  // the channels outlive run 2 in these closures
      unbuffered.emplace();
      full.emplace(1);
      full->send(1);
      go([c = *unbuffered]() mutable { c.recv(); });
      go([c = *full]() mutable { c.send(2); });  // blocks: full
    }
    for (int i = 0; i < 20; i++) gosched();
  });
  std::vector<int> got;
  test::run_with(2, [&] {
    Chan<int> c = *unbuffered;
    go([c]() mutable { c.send(7); });  // the dead receiver must not take it
    got.push_back(*c.recv());
    got.push_back(*full->recv());  // the buffered 1; the dead sender's 2 is gone with it
    got.push_back(full->try_recv().has_value());
    full->send(3);
    got.push_back(*full->recv());
  });
  unbuffered.reset();
  full.reset();
  EXPECT_EQ(got, (std::vector<int>{7, 1, 0, 3}));
}

// Timers armed in run 1 and still pending when it returns: destroyed after the run, or
// stopped, reset and destroyed in the next one.
TEST(Rerun, TimersOfAnEarlierRunCanBeStoppedAndDestroyed) {
  std::unique_ptr<Timer> t1, t2;
  std::unique_ptr<Ticker> tk;
  test::run_with(2, [&] {
    t1 = std::make_unique<Timer>(1h);
    t2 = std::make_unique<Timer>(1h);
    tk = std::make_unique<Ticker>(1h);
  });
  t1.reset();  // outside any run
  bool stopped = true, fired = false;
  test::run_with(2, [&] {
    stopped = t2->stop();  // not pending in this run's heaps: nothing to stop
    t2->reset(1ms);
    fired = t2->c().recv().has_value();
    tk->stop();
  });
  t2.reset();
  tk.reset();
  EXPECT_FALSE(stopped);
  EXPECT_TRUE(fired);
}

// A File opened in run 1, with a reader abandoned on it and a read deadline set: in run 2
// it reads again (registered with the new run's poller), its deadline still holds; after
// the runs it closes.
TEST(Rerun, FileOfAnEarlierRunKeepsWorking) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  std::optional<File> r;
  test::run_with(1, [&] {
    r.emplace(File::adopt(fds[0]));
    r->set_read_deadline(Clock::now() + 1h);
    go([&] {
      char b;
      r->read(&b, 1);  // abandoned here
    });
    for (int i = 0; i < 20; i++) gosched();
  });
  std::string got;
  bool timed_out = false;
  test::run_with(2, [&] {
    std::thread writer([&] {
      std::this_thread::sleep_for(20ms);
      if (::write(fds[1], "hi", 2) != 2) std::abort();
    });
    char buf[8];
    std::size_t n = r->read(buf, sizeof buf);  // parks until the writer's bytes arrive
    got.assign(buf, n);
    writer.join();
    r->set_read_deadline(Clock::now() + 10ms);
    try {
      r->read(buf, sizeof buf);
    } catch (const std::system_error& e) {
      timed_out = e.code().value() == ETIMEDOUT;
    }
  });
  r.reset();  // closes, outside any run
  ::close(fds[1]);
  EXPECT_EQ(got, "hi");
  EXPECT_TRUE(timed_out);
}

}  // namespace
}  // namespace urgent
