/* bpf/observe.h: what the kernel-side observers (observe.bpf.c) share with their loader
 * (observer.cc): the ring-buffer records, the per-thread totals, the histograms and the
 * counters. C, for both clang -target bpf and g++. Times are CLOCK_MONOTONIC ns
 * (bpf_ktime_get_ns), the clock urgent's execution trace uses. */
#ifndef URGENT_BPF_OBSERVE_H
#define URGENT_BPF_OBSERVE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define OBS_SIGURG 23
#define OBS_HIST_BUCKETS 64 /* log2 buckets of ns: bucket b holds [2^(b-1), 2^b) */

enum obs_record_type {
  OBS_OFFCPU = 1,  /* a thread of the target was off the CPU */
  OBS_SYSCALL = 2, /* a system call that left the CPU or lasted at least min_syscall_ns */
  OBS_SIGNAL = 3,  /* a SIGURG to a thread of the target: generated, then delivered */
};

enum obs_offcpu_reason {
  OBS_BLOCKED = 0,   /* it went to sleep (prev_state not TASK_RUNNING, not preempted) */
  OBS_PREEMPTED = 1, /* the kernel preempted it (sched_switch's preempt) */
  OBS_YIELDED = 2,   /* it gave the CPU up while runnable (sched_yield) */
};

struct obs_offcpu {
  __u32 type; /* OBS_OFFCPU */
  __u32 tid;
  __u64 start_ns, end_ns;
  __u64 runq_ns;    /* waiting for a CPU once runnable: wakeup (or switch-out) to switch-in */
  __u32 reason;     /* obs_offcpu_reason */
  __u32 state;      /* prev_state at switch-out (the kernel's TASK_* bits) */
  __s64 syscall_nr; /* the system call it was in, or -1 */
};

struct obs_syscall {
  __u32 type; /* OBS_SYSCALL */
  __u32 tid;
  __s64 nr;
  __s64 ret;
  __u64 enter_ns, exit_ns;
  __u64 offcpu_ns;    /* time off the CPU inside the call: "blocked" is a kernel fact */
  __u64 first_off_ns; /* when it first left the CPU inside the call (0: never) */
};

struct obs_signal {
  __u32 type;       /* OBS_SIGNAL */
  __u32 tid;        /* the target thread */
  __u32 sender_tid; /* who called tgkill */
  __u32 result;     /* signal_generate's: 0 delivered, 1 ignored, 2 already pending (coalesced) */
  __u64 generate_ns;
  __u64 deliver_ns; /* 0 when not delivered (coalesced or ignored) */
};

struct obs_thread {
  __u64 offcpu_blocked_ns, offcpu_preempted_ns, offcpu_yielded_ns;
  __u64 offcpu_count;
  __u64 runq_ns;
  __u64 syscalls, syscall_ns, syscall_offcpu_ns, blocking_syscalls;
  __u64 sigurg_delivered;
};

enum obs_hist {
  OBS_H_OFFCPU_BLOCKED = 0,
  OBS_H_OFFCPU_PREEMPTED = 1,
  OBS_H_RUNQ = 2,
  OBS_H_SYSCALL = 3,
  OBS_H_SYSCALL_BLOCKED = 4, /* calls that left the CPU: their duration */
  OBS_H_SIGURG = 5,          /* generate -> deliver */
  OBS_H_COUNT = 6,
};

enum obs_counter {
  OBS_C_RINGBUF_DROPS = 0, /* records lost: the ring buffer was full */
  OBS_C_THREADS_FULL = 1,  /* threads not followed: the thread map was full */
  OBS_C_SIGURG_GENERATED = 2,
  OBS_C_SIGURG_COALESCED = 3, /* generated while one was pending (ALREADY_PENDING) */
  OBS_C_SIGURG_DELIVERED = 4,
  /* a thread entered or left a system call (so it ran) while its last switch-out was still
   * open: no sched_switch program run saw it switch back in, and that off-CPU interval is
   * missing from the records and totals */
  OBS_C_SWITCH_IN_UNSEEN = 5,
  OBS_C_COUNT = 6,
};

#endif
