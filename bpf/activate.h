/* bpf/activate.h: what the activation program (activate.bpf.c) shares with its loader
 * (activator.cc) and the runtime (runtime/activation.cc): the per-M slots of the
 * BPF_F_MMAPABLE array. C, for both clang -target bpf and g++. */
#ifndef URGENT_BPF_ACTIVATE_H
#define URGENT_BPF_ACTIVATE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define ACT_MAX_MS 4096 /* Ms with a slot (by M id); the others are left to sysmon */

enum act_state {
  ACT_IDLE = 0,    /* no P */
  ACT_SYSCALL = 1, /* in urgent::blocking, its P in kPsyscall */
  ACT_RUNNING = 2, /* holds a P, not in a system call */
};

/* How the program wakes the spare (activate.bpf.c's wake_by). */
enum act_wake {
  ACT_WAKE_SIGNAL = 0,  /* bpf_send_signal to the process: the thread with it unblocked */
  ACT_WAKE_RINGBUF = 1, /* a record (the slot's index) in act_wakeups, BPF_RB_FORCE_WAKEUP:
                           wakes whoever waits on the ring buffer's fd (epoll) */
};

/* One M's slot, a cache line: `state` is the runtime's (plain stores by the M itself), the
 * rest the program's (written on that M's switch-out and switch-in, which never run
 * concurrently). */
struct act_slot {
  __u32 state;        /* act_state */
  __u32 tid;          /* the M's thread (the runtime's, for its own reading) */
  __u64 off_since;    /* left the CPU to sleep while state != ACT_IDLE, at; 0: on the CPU */
  __u64 last_in;      /* its last switch-in after such a sleep */
  __u64 signals;      /* wakeups sent for it (signals, or ring-buffer records) */
  __u64 signal_errors; /* bpf_send_signal or bpf_ringbuf_output failed */
  __u64 pad[3];
};

#endif
