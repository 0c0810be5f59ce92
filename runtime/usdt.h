// runtime/usdt.h: USDT probes (sys/sdt.h, provider "urgent") at the scheduler's main points,
// for bpftrace, perf and systemtap:
//
//   bpftrace -e 'usdt:./prog:urgent:go_create { @[tid] = count(); }'
//
// Each probe has a semaphore (a counter in section .probes that a tracer increments while
// it is attached), and the probe site tests it first: when nothing is attached a probe costs
// one load and a predicted branch; the probe itself is a NOP the tracer turns into a trap.
//
// Probes and their arguments (goroutine ids are Go's goids, P ids 0..GOMAXPROCS-1):
//   go_create(goid, parent_goid)       urgent::go
//   go_start(goid, p)                  a goroutine starts running on an M with P p
//   go_end(goid)                       a goroutine exits
//   go_block(goid, reason)             gopark; reason: the wait reason (a C string)
//   go_unblock(goid, by_goid)          goready; by_goid 0 when not readied by a goroutine
//   go_preempt(goid, kind)             it yields because sysmon asked: kind 0 by the SIGURG
//                                      handler's trampoline, 1 at a runtime call
//   preempt_signal(tid, goid)          sysmon sends SIGURG to thread tid running goid
//   preempt_handler(goid, verdict)     the handler ran: verdict 0 taken, 1 urgent's code,
//                                      2 runtime lock, 3 NoPreempt, 4 other object, 5 stack
//   syscall_enter(goid)                urgent::blocking starts (entersyscall)
//   syscall_exit(goid, path)           it returns: path 0 own P, 1 idle P, 2 no P (slow)
//   handoff(p)                         sysmon (or a spare M woken by the kernel) took P p
//                                      from a blocked system call
//   activation(m)                      a parked spare M woke for an activation (URGENT_HANDOFF)
//   steal(p, victim, n)                P p stole n goroutines from P victim
#pragma once

#define _SDT_HAS_SEMAPHORES 1
#define SDT_USE_VARIADIC 1
#include <sys/sdt.h>

#define URGENT_USDT_PROBES(X)                                                     \
  X(go_create)                                                                    \
  X(go_start) X(go_end) X(go_block) X(go_unblock) X(go_preempt) X(preempt_signal) \
      X(preempt_handler) X(syscall_enter) X(syscall_exit) X(handoff) X(steal) \
          X(activation)

#define URGENT_USDT_SEMAPHORE_DECL(name) extern volatile unsigned short urgent_##name##_semaphore;
extern "C" {
URGENT_USDT_PROBES(URGENT_USDT_SEMAPHORE_DECL)
}
#undef URGENT_USDT_SEMAPHORE_DECL

// URGENT_PROBE(name, args...): fires probe urgent:name if a tracer is attached to it.
#define URGENT_PROBE(name, ...)                                \
  do {                                                         \
    if (__builtin_expect(urgent_##name##_semaphore != 0, 0)) { \
      STAP_PROBEV(urgent, name, __VA_ARGS__);                  \
    }                                                          \
  } while (0)
