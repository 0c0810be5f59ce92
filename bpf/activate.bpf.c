// SPDX-License-Identifier: GPL-2.0
/* bpf/activate.bpf.c: URGENT_HANDOFF=bpf, the kernel half of urgent's scheduler
 * activations. On every sched_switch of the runtime's process it looks up the M leaving the
 * CPU (by thread id) and reads its state from the slot the runtime writes with plain stores
 * (a BPF_F_MMAPABLE array: no system call on the runtime's side). Only when that M is in a
 * system call holding its P (ACT_SYSCALL), or holds a P outside one (ACT_RUNNING: an
 * unwrapped block, reported), and is going to sleep (not preempted, prev_state not
 * TASK_RUNNING), does it send the activation signal to the process: the kernel gives it to
 * the one thread that has it unblocked, a parked spare M. Everything else is filtered here,
 * in the kernel: no wakeup at all.
 *
 * How it wakes (wake_by): the signal (the runtime's way), or a record in a ring buffer with
 * BPF_RB_FORCE_WAKEUP for a waiter in epoll (urgent-bench activation measures both floors).
 *
 * Invariants: a slot's program-written fields are written only on its M's own switch-out
 * and switch-in, which never run concurrently. Neither wakeup is made from sched_switch
 * itself (interrupts off): bpf_send_signal and the ring buffer's wakeup are both deferred
 * by the kernel through irq_work, like a perf event's signal. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "activate.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 target_tgid = 0;
const volatile __u32 activation_signal = 16; /* SIGSTKFLT */
const volatile __u32 wake_by = ACT_WAKE_SIGNAL;  /* enum act_wake */

/* The runtime's Ms: thread id -> slot (written by the runtime at each M's start). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, ACT_MAX_MS);
  __type(key, __u32);
  __type(value, __u32);
} act_tids SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, ACT_MAX_MS);
  __type(key, __u32);
  __type(value, struct act_slot);
} act_slots SEC(".maps");

/* ACT_WAKE_RINGBUF: one __u32 record (the slot's index) per wakeup. */
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4096);
} act_wakeups SEC(".maps");

static __always_inline struct act_slot *slot_of(__u32 tid, __u32 *index) {
  __u32 *idx = bpf_map_lookup_elem(&act_tids, &tid);
  if (!idx) return 0;
  *index = *idx;
  return bpf_map_lookup_elem(&act_slots, idx);
}

/* Wakes the spare for slot `index`: 0, or the helper's error. */
static __always_inline long wake(__u32 index) {
  if (wake_by == ACT_WAKE_RINGBUF)
    return bpf_ringbuf_output(&act_wakeups, &index, sizeof index, BPF_RB_FORCE_WAKEUP);
  return bpf_send_signal(activation_signal);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(act_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
             unsigned int prev_state) {
  __u64 now = 0;
  __u32 index = 0;
  if (BPF_CORE_READ(prev, tgid) == target_tgid && !preempt && prev_state != 0) {
    struct act_slot *s = slot_of(BPF_CORE_READ(prev, pid), &index);
    if (s) {
      __u32 st = *(volatile __u32 *)&s->state;
      if (st != ACT_IDLE) {
        now = bpf_ktime_get_ns();
        s->off_since = now;
        s->signals++;
        if (wake(index) != 0) s->signal_errors++;
      }
    }
  }
  if (BPF_CORE_READ(next, tgid) == target_tgid) {
    struct act_slot *s = slot_of(BPF_CORE_READ(next, pid), &index);
    if (s && s->off_since != 0) {
      if (now == 0) now = bpf_ktime_get_ns();
      s->last_in = now;
      s->off_since = 0;
    }
  }
  return 0;
}
