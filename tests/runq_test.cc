// tests/runq_test.cc: the local run queue (runq.cc) under concurrent stealing, white-box.
#include "runq.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "proc.h"

namespace urgent::rt {
namespace {

// Drains everything left in the global queue (runqputslow overflow) into `out`.
void drain_global(P* pp, std::vector<G*>* out) {
  for (;;) {
    G* gp;
    {
      SpinGuard lock(sched.lock);
      gp = globrunqget(pp, 1);
    }
    if (gp == nullptr) return;
    out->push_back(gp);
  }
}

TEST(RunQueue, PutGetFifoWithRunnext) {
  auto pp = std::make_unique<P>();
  G a, b, c;
  bool inherit = false;
  runqput(pp.get(), &a, false);
  runqput(pp.get(), &b, true);  // runnext
  runqput(pp.get(), &c, true);  // replaces runnext, b kicked to the tail
  EXPECT_EQ(runqlen(pp.get()), 3u);
  EXPECT_EQ(runqget(pp.get(), &inherit), &c);
  EXPECT_TRUE(inherit);
  EXPECT_EQ(runqget(pp.get(), &inherit), &a);
  EXPECT_FALSE(inherit);
  EXPECT_EQ(runqget(pp.get(), &inherit), &b);
  EXPECT_EQ(runqget(pp.get(), &inherit), nullptr);
  EXPECT_TRUE(runqempty(pp.get()));
}

TEST(RunQueue, OverflowMovesHalfToGlobal) {
  gomaxprocs_now.store(1);
  auto pp = std::make_unique<P>();
  std::vector<G> gs(kRunqSize + 1);
  for (auto& g : gs) runqput(pp.get(), &g, false);
  // The 257th put found the ring full: 128 plus the new one went to the global queue.
  EXPECT_EQ(runqlen(pp.get()), kRunqSize / 2);
  EXPECT_EQ(sched.runqsize.load(), static_cast<std::int32_t>(kRunqSize / 2 + 1));
  EXPECT_EQ(pp->runqputslow_n.load(), 1u);
  std::vector<G*> got;
  drain_global(pp.get(), &got);
  bool inherit;
  while (G* g = runqget(pp.get(), &inherit)) got.push_back(g);
  ASSERT_EQ(got.size(), gs.size());
  // Global first (oldest half, then the new G), then the younger half: FIFO overall except
  // the new G, exactly Go's runqputslow.
  for (std::size_t i = 0; i < kRunqSize / 2; i++) EXPECT_EQ(got[i], &gs[i]);
  EXPECT_EQ(got[kRunqSize / 2], &gs[kRunqSize]);
  gomaxprocs_now.store(0);
}

TEST(RunQueue, StealTakesHalf) {
  auto victim = std::make_unique<P>();
  auto thief = std::make_unique<P>();
  std::vector<G> gs(10);
  for (auto& g : gs) runqput(victim.get(), &g, false);
  G* got = runqsteal(thief.get(), victim.get(), false);
  EXPECT_EQ(got, &gs[4]);  // stole gs[0..4], runs the last, keeps 4 queued
  EXPECT_EQ(runqlen(thief.get()), 4u);
  EXPECT_EQ(runqlen(victim.get()), 5u);
  EXPECT_EQ(thief->steals.load(), 1u);
  EXPECT_EQ(thief->stolen.load(), 5u);
}

TEST(RunQueue, RunnextStolenOnlyWhenAsked) {
  auto victim = std::make_unique<P>();
  auto thief = std::make_unique<P>();
  victim->status.store(kPidle);  // no 3 µs courtesy sleep
  G g;
  runqput(victim.get(), &g, true);
  EXPECT_EQ(runqsteal(thief.get(), victim.get(), false), nullptr);
  EXPECT_EQ(runqsteal(thief.get(), victim.get(), true), &g);
  EXPECT_TRUE(runqempty(victim.get()));
}

// A running P whose runnext sits still (its owner is stuck in a long goroutine): after the
// courtesy sleep the thief takes it, as in Go.
// Two Ps at GOMAXPROCS=2: a running victim with g in its runnext, and a thief.
struct RunningVictim : testing::Test {
  void SetUp() override {
    gomaxprocs_now.store(2);
    victim->status.store(kPrunning);
    runqput(victim.get(), &g, true);
  }
  void TearDown() override { gomaxprocs_now.store(0); }
  std::unique_ptr<P> victim = std::make_unique<P>();
  std::unique_ptr<P> thief = std::make_unique<P>();
  G g;
};

TEST_F(RunningVictim, RunnextOfAStuckRunningPIsStolen) {
  EXPECT_EQ(runqsteal(thief.get(), victim.get(), true), &g);
  EXPECT_TRUE(runqempty(victim.get()));
}

// The owner runs its runnext during the thief's courtesy wait and puts the *same* G back
// (two goroutines readying each other put the same G in runnext every ~100 ns). Go's CAS
// alone succeeds on such a runnext (ABA); urgent sees that the owner took runnext meanwhile
// and leaves it alone. The wait is scripted, so the interleaving is exact.
RunningVictim* aba_victim = nullptr;
TEST_F(RunningVictim, RunnextTheOwnerRanMeanwhileIsNotStolen) {
  aba_victim = this;
  auto saved = runqgrab_courtesy_wait;
  runqgrab_courtesy_wait = [] {
    bool inherit;
    P* pp = aba_victim->victim.get();
    ASSERT_EQ(runqget(pp, &inherit), &aba_victim->g);  // the owner runs g...
    runqput(pp, &aba_victim->g, true);                 // ...which is readied again
  };
  EXPECT_EQ(runqsteal(thief.get(), victim.get(), true), nullptr);
  runqgrab_courtesy_wait = saved;
  bool inherit;
  EXPECT_EQ(runqget(victim.get(), &inherit), &g);  // still the owner's
}

// One owner keeps putting (into runnext and the ring) and getting; three thieves steal from
// it and drain what they stole. Every G must come out exactly once.
TEST(RunQueue, ConcurrentStealingLosesAndDuplicatesNothing) {
  gomaxprocs_now.store(4);
  constexpr int kThieves = 3;
  constexpr std::size_t kGs = 2'000'000;
  std::vector<G> gs(kGs);
  std::vector<std::atomic<std::uint8_t>> seen(kGs);
  auto index = [&](G* g) { return static_cast<std::size_t>(g - gs.data()); };
  auto owner = std::make_unique<P>();
  owner->status.store(kPidle);
  std::vector<std::unique_ptr<P>> thieves;
  for (int i = 0; i < kThieves; i++) thieves.push_back(std::make_unique<P>());
  std::atomic<bool> done{false};
  std::atomic<std::size_t> consumed{0};
  auto take = [&](G* g) {
    seen[index(g)].fetch_add(1, std::memory_order_relaxed);
    consumed.fetch_add(1, std::memory_order_relaxed);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThieves; t++) {
    threads.emplace_back([&, t] {
      P* me = thieves[t].get();
      std::mt19937 rng(t);
      bool inherit;
      while (!done.load(std::memory_order_acquire)) {
        if (G* g = runqsteal(me, owner.get(), rng() % 4 == 0)) take(g);
        while (G* g = runqget(me, &inherit)) take(g);
      }
      while (G* g = runqget(me, &inherit)) take(g);
    });
  }
  std::mt19937 rng(42);
  bool inherit;
  for (std::size_t i = 0; i < kGs; i++) {
    runqput(owner.get(), &gs[i], rng() % 8 == 0);
    if (rng() % 3 == 0) {
      if (G* g = runqget(owner.get(), &inherit)) take(g);
    }
  }
  while (G* g = runqget(owner.get(), &inherit)) take(g);
  done.store(true, std::memory_order_release);
  for (auto& th : threads) th.join();
  std::vector<G*> rest;
  drain_global(owner.get(), &rest);
  for (G* g : rest) take(g);
  EXPECT_EQ(consumed.load(), kGs);
  std::size_t lost = 0, dup = 0;
  for (auto& s : seen) {
    lost += s.load() == 0;
    dup += s.load() > 1;
  }
  EXPECT_EQ(lost, 0u);
  EXPECT_EQ(dup, 0u);
  std::uint64_t steals = 0;
  for (auto& t : thieves) steals += t->steals.load();
  EXPECT_GT(steals, 0u) << "the thieves never managed to steal: the test did not test stealing";
  gomaxprocs_now.store(0);
}

}  // namespace
}  // namespace urgent::rt
