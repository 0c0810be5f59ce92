// tests/chan_test.cc: channels and select with Go's semantics.
#include <gtest/gtest.h>
#include <urgent/urgent.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "proc.h"
#include "test_util.h"

namespace urgent {
namespace {

using test::run_with;

class ChanProcs : public testing::TestWithParam<int> {};

TEST_P(ChanProcs, UnbufferedHandsValuesOverInOrder) {
  std::vector<int> got;
  run_with(GetParam(), [&] {
    Chan<int> c;
    urgent::go([c]() mutable {
      for (int i = 0; i < 1000; i++) c.send(i);
      c.close();
    });
    for (int v : c) got.push_back(v);
  });
  ASSERT_EQ(got.size(), 1000u);
  for (int i = 0; i < 1000; i++) ASSERT_EQ(got[i], i);
}

TEST_P(ChanProcs, BufferedLenCapAndDrainAfterClose) {
  std::vector<std::size_t> lens;
  std::vector<std::optional<int>> after;
  run_with(GetParam(), [&] {
    Chan<int> c(3);
    lens.push_back(c.cap());
    c.send(1);
    c.send(2);
    lens.push_back(c.len());
    c.close();
    for (int i = 0; i < 3; i++) after.push_back(c.recv());
    lens.push_back(c.len());
  });
  EXPECT_EQ(lens, (std::vector<std::size_t>{3, 2, 0}));
  EXPECT_EQ(after, (std::vector<std::optional<int>>{1, 2, std::nullopt}));
}

TEST_P(ChanProcs, MoveOnlyValuesAreMovedNotLost) {
  int sum = 0;
  run_with(GetParam(), [&] {
    Chan<std::unique_ptr<int>> c(2);
    WaitGroup wg;
    wg.add(1);
    urgent::go([&] {
      for (int i = 1; i <= 100; i++) c.send(std::make_unique<int>(i));
      c.close();
      wg.done();
    });
    for (auto& p : c) sum += *p;
    wg.wait();
  });
  EXPECT_EQ(sum, 5050);
}

TEST_P(ChanProcs, WaitersAreServedFifo) {
  std::vector<int> order;
  run_with(GetParam(), [&] {
    Chan<int> c;
    Chan<int> out(10);
    std::atomic<rt::G*> receiver[5] = {};
    for (int i = 0; i < 5; i++) {
      urgent::go([c, out, i, &receiver]() mutable {
        {
          NoPreempt scope;  // getg() is getm()->curg: no migration in between
          receiver[i].store(rt::getg(), std::memory_order_release);
        }
        auto v = c.recv();
        out.send(i * 100 + *v);
      });
      // Receiver i queues before i+1: its only park is in recv, after it queued. (A number
      // of goscheds was not enough at 2 Ps when the other P's thread was slow to run it.)
      rt::G* g;
      while ((g = receiver[i].load(std::memory_order_acquire)) == nullptr ||
             g->atomicstatus.load(std::memory_order_acquire) != rt::kGwaiting) {
        urgent::gosched();
      }
    }
    for (int v = 0; v < 5; v++) c.send(v);
    for (int i = 0; i < 5; i++) order.push_back(*out.recv());
  });
  // Receiver i got value i: waiters are served in the order they queued. (The order they
  // then run in is runnext's: the last one readied runs first, as in Go.)
  std::sort(order.begin(), order.end());
  EXPECT_EQ(order, (std::vector<int>{0, 101, 202, 303, 404}));
}

TEST(Chan, ClosePanics) {
  std::vector<std::string> msgs;
  urgent::run([&] {
    auto catch_panic = [&](auto f) {
      try {
        f();
      } catch (const Panic& p) {
        msgs.push_back(p.what());
      }
    };
    Chan<int> c(1);
    c.close();
    catch_panic([&] { c.send(1); });
    catch_panic([&] { c.close(); });
    catch_panic([&] { Chan<int>(nullptr).close(); });
    catch_panic([&] { c.try_send(1); });
  });
  EXPECT_EQ(msgs, (std::vector<std::string>{"send on closed channel", "close of closed channel",
                                            "close of nil channel", "send on closed channel"}));
}

// Chan<T>(0) is make(chan T, 0), not the nil channel: any integer is a capacity, nullptr
// the nil channel, a negative capacity Go's panic.
TEST(Chan, IntegerCapacitiesAndTheNilChannel) {
  std::vector<std::size_t> caps;
  std::vector<bool> nils;
  std::string negative;
  run_with(1, [&] {
    Chan<int> zero(0), three(3u), big(std::size_t{1000}), dflt, nil(nullptr);
    for (const Chan<int>* c : {&zero, &three, &big, &dflt, &nil}) {
      caps.push_back(c->cap());
      nils.push_back(c->is_nil());
    }
    EXPECT_TRUE(zero.try_send(1) == false);  // unbuffered, nobody receiving: would block
    try {
      Chan<int> bad(-1);
    } catch (const Panic& p) {
      negative = p.what();
    }
  });
  EXPECT_EQ(caps, (std::vector<std::size_t>{0, 3, 1000, 0, 0}));
  EXPECT_EQ(nils, (std::vector<bool>{false, false, false, false, true}));
  EXPECT_EQ(negative, "makechan: size out of range");
}

TEST(Chan, BlockedSenderPanicsWhenClosed) {
  std::string msg;
  run_with(2, [&] {
    Chan<int> c;
    WaitGroup wg;
    wg.add(1);
    urgent::go([&] {
      try {
        c.send(1);
      } catch (const Panic& p) {
        msg = p.what();
      }
      wg.done();
    });
    for (int i = 0; i < 100; i++) urgent::gosched();
    c.close();
    wg.wait();
  });
  EXPECT_EQ(msg, "send on closed channel");
}

TEST(Chan, TrySendTryRecv) {
  std::vector<int> r;
  urgent::run([&] {
    Chan<int> c(1);
    bool closed = true;
    r.push_back(c.try_recv(&closed).has_value());  // empty
    r.push_back(closed);
    r.push_back(c.try_send(7));
    r.push_back(c.try_send(8));  // full
    r.push_back(*c.try_recv());
    c.close();
    r.push_back(c.try_recv(&closed).has_value());
    r.push_back(closed);
    Chan<int> nil(nullptr);
    r.push_back(nil.try_send(1));
    r.push_back(nil.try_recv(&closed).has_value());
    r.push_back(closed);
  });
  EXPECT_EQ(r, (std::vector<int>{0, 0, 1, 0, 7, 0, 1, 0, 0, 0}));
}

TEST(Select, DefaultWhenNothingReady) {
  int chosen = -1;
  bool ran_default = false;
  urgent::run([&] {
    Chan<int> a, b(nullptr);
    chosen = urgent::select(case_recv(a, [](std::optional<int>) {}), case_send(b, 1, [] {}),
                            case_default([&] { ran_default = true; }));
  });
  EXPECT_EQ(chosen, 2);
  EXPECT_TRUE(ran_default);
}

TEST(Select, ReceivesFromClosedAndSendsWhenRoom) {
  std::vector<int> log;
  urgent::run([&] {
    Chan<int> closed, room(1);
    closed.close();
    urgent::select(case_recv(closed, [&](std::optional<int> v) { log.push_back(v ? 1 : 0); }));
    urgent::select(case_send(room, 5, [&] { log.push_back(2); }));
    log.push_back(*room.recv());
  });
  EXPECT_EQ(log, (std::vector<int>{0, 2, 5}));
}

// With both cases always ready, each must be chosen about half the time. 100,000 trials:
// a fair coin lands within 47%..53% with probability 1 - 1e-80; a biased choice does not.
TEST(Select, ChoiceAmongReadyCasesIsUniform) {
  int counts[3] = {0, 0, 0};
  urgent::run([&] {
    Chan<int> a(1), b(1), c(1);
    for (int i = 0; i < 100000; i++) {
      a.try_send(1);
      b.try_send(1);
      c.try_send(1);
      int k = urgent::select(case_recv(a, [] {}), case_recv(b, [] {}), case_recv(c, [] {}));
      counts[k]++;
    }
  });
  for (int k = 0; k < 3; k++) {
    EXPECT_GT(counts[k], 31000) << k;
    EXPECT_LT(counts[k], 35700) << k;
  }
}

TEST_P(ChanProcs, SelectParksOnAllAndIsWokenByFirst) {
  std::vector<int> got;
  run_with(GetParam(), [&] {
    Chan<int> a, b;
    Chan<int> done(1);
    urgent::go([&] {
      for (int i = 0; i < 200; i++) {
        urgent::select(case_recv(a, [&](std::optional<int> v) { got.push_back(*v); }),
                       case_recv(b, [&](std::optional<int> v) { got.push_back(-*v); }));
      }
      done.send(0);
    });
    for (int i = 0; i < 200; i++) (i % 2 ? a : b).send(i);
    done.recv();
  });
  ASSERT_EQ(got.size(), 200u);
  for (int i = 0; i < 200; i++) EXPECT_EQ(got[i], i % 2 ? i : -i);
}

// Many goroutines selecting on overlapping sets of channels, in different argument orders,
// sending and receiving at once: lock ordering must prevent deadlock, and every value sent
// must be received exactly once.
TEST_P(ChanProcs, OverlappingSelectsUnderLoad) {
  constexpr int kChans = 5, kWorkers = 40, kPerWorker = 500;
  std::atomic<long> received{0}, sum_in{0}, sum_out{0};
  run_with(GetParam(), [&] {
    std::vector<Chan<int>> ch;
    for (int i = 0; i < kChans; i++) ch.emplace_back(i % 2);  // mix unbuffered and buffered
    WaitGroup senders, receivers;
    senders.add(kWorkers);
    receivers.add(kWorkers);
    for (int w = 0; w < kWorkers; w++) {
      urgent::go([&, w] {
        for (int i = 0; i < kPerWorker; i++) {
          int v = w * kPerWorker + i;
          Chan<int>& x = ch[(w + i) % kChans];
          Chan<int>& y = ch[(w * 3 + i + 1) % kChans];
          urgent::select(case_send(x, v, [&] { sum_in += v; }),
                         case_send(y, v, [&] { sum_in += v; }));
        }
        senders.done();
      });
      urgent::go([&, w] {
        // Receivers listen on every channel (so that every send can complete), each in its
        // own argument order.
        auto take = [&](std::optional<int> v) {
          sum_out += *v;
          received++;
        };
        for (int i = 0; i < kPerWorker; i++) {
          int r = w + i;
          urgent::select(case_recv(ch[r % kChans], take), case_recv(ch[(r + 2) % kChans], take),
                         case_recv(ch[(r + 4) % kChans], take),
                         case_recv(ch[(r + 1) % kChans], take),
                         case_recv(ch[(r + 3) % kChans], take));
        }
        receivers.done();
      });
    }
    senders.wait();
    receivers.wait();
  });
  EXPECT_EQ(received.load(), long{kWorkers} * kPerWorker);
  EXPECT_EQ(sum_in.load(), sum_out.load());
}

INSTANTIATE_TEST_SUITE_P(Procs, ChanProcs, testing::Values(1, 2));

TEST(Select, SendOnClosedChannelPanics) {
  std::string msg;
  urgent::run([&] {
    Chan<int> c;
    c.close();
    try {
      urgent::select(case_send(c, 1, [] {}));
    } catch (const Panic& p) {
      msg = p.what();
    }
  });
  EXPECT_EQ(msg, "send on closed channel");
}

}  // namespace
}  // namespace urgent
