// urgent/sched.h: Go's runtime package scheduling calls.
#pragma once

namespace urgent {

// Yields the processor (runtime.Gosched): the goroutine goes to the global run queue and
// the P runs something else; it resumes later, maybe on another thread.
void gosched();

// Sets the number of Ps (runtime.GOMAXPROCS) and returns the previous setting. n <= 0 only
// queries. A change stops the world: every P reaches a scheduling point first.
int gomaxprocs(int n);

// Number of goroutines that exist (runtime.NumGoroutine).
int num_goroutine();

// Number of CPUs the process may run on (runtime.NumCPU: the affinity mask).
int num_cpu();

// Wires the calling goroutine to its current OS thread (runtime.LockOSThread): until as many
// unlock_os_thread calls, it runs only on this thread and no other goroutine runs there.
// A goroutine that exits locked takes its thread with it (the thread exits), as in Go.
void lock_os_thread();
void unlock_os_thread();

}  // namespace urgent
