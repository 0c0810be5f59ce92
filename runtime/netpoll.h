// runtime/netpoll.h: the network poller (Go's netpoll.go), the scheduler's side and the
// file-descriptor side.
#pragma once

#include <atomic>
#include <cstdint>

#include "runtime2.h"

namespace urgent::rt {

// ---- the scheduler's side ----

// Creates the epoll instance and its wakeup eventfd (urgent::run start); closes them (end).
void netpollinit();
void netpollfini();

// Goroutines parked on I/O readiness (Go's netpollWaiters): while it is non-zero, an idle M
// blocks in netpoll instead of sleeping, and findRunnable polls before stealing.
extern std::atomic<std::int32_t> netpollWaiters;

// Polls for ready descriptors (Go's netpoll): delay < 0 blocks until something is ready or
// netpollBreak; 0 does not block; > 0 blocks for at most delay ns. Returns the goroutines
// that I/O made ready, still in kGwaiting (injectglist makes them runnable).
GList netpoll(std::int64_t delay);

// Interrupts a netpoll blocked in another thread (eventfd write; at most one pending).
void netpollBreak();

// Counters for sched_stats.
struct NetpollStats {
  std::uint64_t polls, blocking, ready, sysmon;
};
NetpollStats netpoll_stats();
void netpoll_count_sysmon();

// ---- the descriptors' side (fd.cc), Go's poll_runtime_* functions ----

struct PollDesc;

enum PollError : int {
  kPollNoError = 0,
  kPollErrClosing = 1,      // the descriptor is being closed
  kPollErrTimeout = 2,      // the deadline passed
  kPollErrNotPollable = 3,  // epoll cannot watch it (a regular file): use blocking calls
};

enum PollMode : int { kModeRead = 'r', kModeWrite = 'w' };

// Registers fd (edge-triggered, read and write); null with *errcode on failure (errno).
PollDesc* poll_open(int fd, int* errcode);
// Unregisters it. Every waiter must be gone (poll_unblock first); pd goes back to the cache.
void poll_close(PollDesc* pd);
// Before an operation: fails fast on closing/expired deadline; forgets stale readiness.
PollError poll_reset(PollDesc* pd, int mode);
// Parks the goroutine until pd is ready for mode (or closing, or the deadline passes).
PollError poll_wait(PollDesc* pd, int mode);
// Sets the read/write deadline (absolute nanotime; 0 none; in the past: expired now).
void poll_set_deadline(PollDesc* pd, std::int64_t when, int mode);
// Marks pd closing and wakes its waiters (they return kPollErrClosing).
void poll_unblock(PollDesc* pd);

}  // namespace urgent::rt
