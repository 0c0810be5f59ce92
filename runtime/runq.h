// runtime/runq.h: a P's local run queue and runnext (Go's runqput/runqget/runqsteal).
//
// Invariants:
// - Only the P's owner calls runqput and runqget; any M may call runqsteal/runqgrab.
// - tail is written only by the owner (store-release); head moves only by CAS (release),
//   so a G taken from the ring is taken exactly once.
// - tail - head <= kRunqSize at all times; when the ring is full, runqputslow moves half
//   of it plus the new G to the global queue under sched.lock.
// - runnext is taken by CAS: the owner (runqget) and, on the last steal pass, thieves.
#pragma once

#include "runtime2.h"

namespace urgent::rt {

// True if pp has nothing in runnext or its ring (Go's runqempty, race-free read).
bool runqempty(P* pp);

// Puts gp on pp's local queue. next: into runnext, kicking the old runnext to the tail.
void runqput(P* pp, G* gp, bool next);

// Takes the next G: runnext first (then *inheritTime is true), else the ring's head.
G* runqget(P* pp, bool* inheritTime);

// Steals half of p2's ring into pp's (runnext too if stealRunNextG and the ring is
// empty); returns one stolen G to run, or null. Go's runqsteal.
G* runqsteal(P* pp, P* p2, bool stealRunNextG);

// What a thief does before it takes the runnext of a running P (Go: usleep(3)), so that the
// owner can schedule it first. A variable for the white-box tests, which script what the
// owner does meanwhile.
extern void (*runqgrab_courtesy_wait)();

// Number of Gs in pp's ring plus runnext (a racy snapshot, for stats and schedtrace).
std::uint32_t runqlen(P* pp);

}  // namespace urgent::rt
