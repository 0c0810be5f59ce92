// SPDX-License-Identifier: GPL-2.0
/* bpf/observe.bpf.c: the kernel's view of one process (urgent's, or any Go program's):
 * when its threads were off the CPU and why, which system calls really blocked, and how
 * long SIGURG took from tgkill to delivery. Loaded by observer.cc (libbpf skeleton).
 *
 * Only raw tracepoints (no kprobes, no fentry/tp_btf on the machines this runs on; raw
 * tracepoints need no tracefs either). Their arguments are the kernel's own:
 *   sched_switch(bool preempt, task *prev, task *next, unsigned int prev_state)  [5.18+]
 *   sched_wakeup(task *p)
 *   sys_enter(pt_regs *regs, long id), sys_exit(pt_regs *regs, long ret)
 *   signal_generate(int sig, kernel_siginfo *info, task *task, int group, int result)
 *   signal_deliver(int sig, kernel_siginfo *info, k_sigaction *ka)
 * Task fields are read with CO-RE (BPF_CORE_READ), so one object works on every kernel
 * with BTF. Filtering is by tgid, in the kernel: a thread id (task->pid) is not a process.
 *
 * Invariants: one thread_state per followed thread, written only by programs running on
 * that thread's behalf (its own switch-out, syscalls, signal delivery) or by the
 * switch-in/wakeup of that thread (which cannot run concurrently with its switch-out);
 * signal_generate writes only sigurg_generated_ns, which signal_deliver consumes. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "observe.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load. */
const volatile __u32 target_tgid = 0;
const volatile __u64 min_offcpu_ns = 0;         /* shorter off-CPU intervals: totals only */
const volatile __u64 min_syscall_ns = 20000; /* non-blocking calls shorter: totals only */
const volatile __u32 watched_signal = OBS_SIGURG; /* the signal followed generate -> deliver */

struct thread_state {
  __u64 off_since;   /* switch-out time while off the CPU, else 0 */
  __u64 woken_at;    /* wakeup time while off the CPU and runnable again, else 0 */
  __u32 off_reason;
  __u32 off_state;
  __s64 sys_nr;      /* the system call in progress, -1 if none */
  __u64 sys_enter;
  __u64 sys_offcpu;
  __u64 sys_first_off;
  __u64 sigurg_generated_ns;
  __u32 sigurg_sender;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __type(value, struct thread_state);
} threads SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __type(value, struct obs_thread);
} totals SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, OBS_H_COUNT * OBS_HIST_BUCKETS);
  __type(key, __u32);
  __type(value, __u64);
} hists SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, OBS_C_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 24);
} events SEC(".maps");

/* Waking the reader on every record costs an interrupt (a VM exit here) on the path being
 * measured: ~40 µs added to each preemption. The readers poll every 50 ms anyway, so they
 * are woken only when the ring is a quarter full. */
static __always_inline __u64 wakeup_flags(void) {
  return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > (1 << 22) ? BPF_RB_FORCE_WAKEUP
                                                                    : BPF_RB_NO_WAKEUP;
}

static __always_inline void count(__u32 c) {
  __u64 *v = bpf_map_lookup_elem(&counters, &c);
  if (v) *v += 1;
}

static __always_inline void hist(__u32 h, __u64 ns) {
  __u32 b = 0;
  /* log2, unrolled: the verifier wants a bounded loop */
#pragma unroll
  for (int i = 0; i < 63; i++) {
    if (ns >> b) b++;
  }
  __u32 key = h * OBS_HIST_BUCKETS + b;
  __u64 *v = bpf_map_lookup_elem(&hists, &key);
  if (v) __sync_fetch_and_add(v, 1);
}

static __always_inline struct thread_state *thread(__u32 tid, bool create) {
  struct thread_state *st = bpf_map_lookup_elem(&threads, &tid);
  if (st || !create) return st;
  struct thread_state fresh = {.sys_nr = -1};
  if (bpf_map_update_elem(&threads, &tid, &fresh, BPF_NOEXIST) != 0 &&
      bpf_map_lookup_elem(&threads, &tid) == 0) {
    count(OBS_C_THREADS_FULL);
    return 0;
  }
  return bpf_map_lookup_elem(&threads, &tid);
}

static __always_inline struct obs_thread *thread_totals(__u32 tid) {
  struct obs_thread *t = bpf_map_lookup_elem(&totals, &tid);
  if (t) return t;
  struct obs_thread zero = {};
  bpf_map_update_elem(&totals, &tid, &zero, BPF_NOEXIST);
  return bpf_map_lookup_elem(&totals, &tid);
}

static __always_inline bool current_is_target(__u32 *tid) {
  __u64 id = bpf_get_current_pid_tgid();
  *tid = (__u32)id;
  return (id >> 32) == target_tgid;
}

SEC("raw_tp/sched_switch")
int BPF_PROG(on_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
             unsigned int prev_state) {
  __u64 now = bpf_ktime_get_ns();
  if (BPF_CORE_READ(prev, tgid) == target_tgid) {
    struct thread_state *st = thread(BPF_CORE_READ(prev, pid), true);
    if (st) {
      st->off_since = now;
      st->woken_at = 0;
      st->off_state = prev_state;
      st->off_reason = preempt ? OBS_PREEMPTED : ((prev_state & 0xff) == 0 ? OBS_YIELDED : OBS_BLOCKED);
      if (st->sys_nr >= 0 && st->sys_first_off == 0) st->sys_first_off = now;
    }
  }
  if (BPF_CORE_READ(next, tgid) != target_tgid) return 0;
  __u32 tid = BPF_CORE_READ(next, pid);
  struct thread_state *st = thread(tid, false);
  if (!st || st->off_since == 0) return 0;
  __u64 off = now - st->off_since;
  /* Runnable since the wakeup, or since the switch-out if it never slept. */
  __u64 runq = st->woken_at ? now - st->woken_at : (st->off_reason != OBS_BLOCKED ? off : 0);
  struct obs_thread *t = thread_totals(tid);
  if (t) {
    if (st->off_reason == OBS_BLOCKED) t->offcpu_blocked_ns += off;
    else if (st->off_reason == OBS_PREEMPTED) t->offcpu_preempted_ns += off;
    else t->offcpu_yielded_ns += off;
    t->offcpu_count++;
    t->runq_ns += runq;
  }
  hist(st->off_reason == OBS_BLOCKED ? OBS_H_OFFCPU_BLOCKED : OBS_H_OFFCPU_PREEMPTED, off);
  hist(OBS_H_RUNQ, runq);
  if (st->sys_nr >= 0) st->sys_offcpu += off;
  if (off >= min_offcpu_ns) {
    struct obs_offcpu *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
    if (r) {
      r->type = OBS_OFFCPU;
      r->tid = tid;
      r->start_ns = st->off_since;
      r->end_ns = now;
      r->runq_ns = runq;
      r->reason = st->off_reason;
      r->state = st->off_state;
      r->syscall_nr = st->sys_nr;
      bpf_ringbuf_submit(r, wakeup_flags());
    } else {
      count(OBS_C_RINGBUF_DROPS);
    }
  }
  st->off_since = 0;
  st->woken_at = 0;
  return 0;
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(on_sched_wakeup, struct task_struct *p) {
  if (BPF_CORE_READ(p, tgid) != target_tgid) return 0;
  struct thread_state *st = thread(BPF_CORE_READ(p, pid), false);
  if (st && st->off_since && !st->woken_at) st->woken_at = bpf_ktime_get_ns();
  return 0;
}

/* The thread runs (it is in sys_enter or sys_exit), so a switch-out still open means its
 * switch-in was not seen: count it once, and close it. */
static __always_inline void check_running(struct thread_state *st) {
  if (st->off_since) {
    count(OBS_C_SWITCH_IN_UNSEEN);
    st->off_since = 0;
    st->woken_at = 0;
  }
}

SEC("raw_tp/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id) {
  __u32 tid;
  if (!current_is_target(&tid)) return 0;
  struct thread_state *st = thread(tid, true);
  if (!st) return 0;
  check_running(st);
  st->sys_nr = id;
  st->sys_enter = bpf_ktime_get_ns();
  st->sys_offcpu = 0;
  st->sys_first_off = 0;
  return 0;
}

SEC("raw_tp/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret) {
  __u32 tid;
  if (!current_is_target(&tid)) return 0;
  struct thread_state *st = thread(tid, false);
  if (!st) return 0;
  check_running(st);
  if (st->sys_nr < 0 || st->sys_enter == 0) return 0;
  __u64 now = bpf_ktime_get_ns();
  __u64 d = now - st->sys_enter;
  struct obs_thread *t = thread_totals(tid);
  if (t) {
    t->syscalls++;
    t->syscall_ns += d;
    t->syscall_offcpu_ns += st->sys_offcpu;
    if (st->sys_offcpu) t->blocking_syscalls++;
  }
  hist(OBS_H_SYSCALL, d);
  if (st->sys_offcpu) hist(OBS_H_SYSCALL_BLOCKED, d);
  if (st->sys_offcpu || d >= min_syscall_ns) {
    struct obs_syscall *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
    if (r) {
      r->type = OBS_SYSCALL;
      r->tid = tid;
      r->nr = st->sys_nr;
      r->ret = ret;
      r->enter_ns = st->sys_enter;
      r->exit_ns = now;
      r->offcpu_ns = st->sys_offcpu;
      r->first_off_ns = st->sys_first_off;
      bpf_ringbuf_submit(r, wakeup_flags());
    } else {
      count(OBS_C_RINGBUF_DROPS);
    }
  }
  st->sys_nr = -1;
  st->sys_enter = 0;
  return 0;
}

static __always_inline void emit_signal(__u32 tid, __u32 sender, __u32 result, __u64 gen,
                                        __u64 deliver) {
  struct obs_signal *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
  if (!r) {
    count(OBS_C_RINGBUF_DROPS);
    return;
  }
  r->type = OBS_SIGNAL;
  r->tid = tid;
  r->sender_tid = sender;
  r->result = result;
  r->generate_ns = gen;
  r->deliver_ns = deliver;
  bpf_ringbuf_submit(r, wakeup_flags());
}

SEC("raw_tp/signal_generate")
int BPF_PROG(on_signal_generate, int sig, struct kernel_siginfo *info, struct task_struct *task,
             int group, int result) {
  if (sig != (int)watched_signal || BPF_CORE_READ(task, tgid) != target_tgid) return 0;
  __u64 now = bpf_ktime_get_ns();
  __u32 tid = BPF_CORE_READ(task, pid);
  __u32 sender = (__u32)bpf_get_current_pid_tgid();
  count(OBS_C_SIGURG_GENERATED);
  if (result != 0) { /* not queued: coalesced with a pending one, or ignored */
    if (result == 2) count(OBS_C_SIGURG_COALESCED);
    emit_signal(tid, sender, result, now, 0);
    return 0;
  }
  struct thread_state *st = thread(tid, true);
  if (!st) return 0;
  st->sigurg_generated_ns = now;
  st->sigurg_sender = sender;
  return 0;
}

SEC("raw_tp/signal_deliver")
int BPF_PROG(on_signal_deliver, int sig, struct kernel_siginfo *info, struct k_sigaction *ka) {
  __u32 tid;
  if (sig != (int)watched_signal || !current_is_target(&tid)) return 0;
  __u64 now = bpf_ktime_get_ns();
  count(OBS_C_SIGURG_DELIVERED);
  struct thread_state *st = thread(tid, false);
  struct obs_thread *t = thread_totals(tid);
  if (t) t->sigurg_delivered++;
  if (!st || st->sigurg_generated_ns == 0) return 0; /* generated before we attached */
  hist(OBS_H_SIGURG, now - st->sigurg_generated_ns);
  emit_signal(tid, st->sigurg_sender, 0, st->sigurg_generated_ns, now);
  st->sigurg_generated_ns = 0;
  return 0;
}
