// runtime/metrics.cc: urgent::metrics() and its text form (Go's runtime/metrics).
//
// Invariants: a snapshot never stops the world; each value is read once, so values are
// individually exact but not mutually consistent (as SchedStats). Names follow Go's
// runtime/metrics where Go has the metric (/sched/goroutines:goroutines,
// /sched/latencies:seconds as percentiles), and the same /area/name:unit scheme otherwise.
#include "urgent/metrics.h"

#include <cinttypes>
#include <cstdio>
#include <string>

#include "proc.h"
#include "urgent/preempt.h"

namespace urgent {

Metrics metrics() {
  Metrics m;
  if (!rt::runtime_running()) return m;
  m.sched = sched_stats();
  for (std::int64_t i = 0, n = rt::allglen(); i < n; i++) {
    switch (rt::allg_at(i)->atomicstatus.load(std::memory_order_relaxed)) {
      case rt::kGrunnable: m.goroutines.runnable++; break;
      case rt::kGrunning: m.goroutines.running++; break;
      case rt::kGsyscall: m.goroutines.syscall++; break;
      case rt::kGwaiting: m.goroutines.waiting++; break;
      default: break;
    }
  }
  const GoroutineCounts& g = m.goroutines;
  m.goroutines.total = g.runnable + g.running + g.syscall + g.waiting;
  m.sched_latency = rt::sched_latency.summary();
  m.preempt_latency = preempt_latency();
  m.preempt_overrun = preempt_overrun();
  return m;
}

std::string metrics_text(const Metrics& m) {
  std::string out;
  auto line = [&out](const char* name, std::uint64_t v) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "%s %" PRIu64 "\n", name, v);
    out += buf;
  };
  auto latency = [&line](const char* prefix, const LatencyStats& l) {
    std::string p = prefix;
    line((p + ":samples").c_str(), l.count);
    line((p + ":p50-ns").c_str(), static_cast<std::uint64_t>(l.p50.count()));
    line((p + ":p99-ns").c_str(), static_cast<std::uint64_t>(l.p99.count()));
    line((p + ":max-ns").c_str(), static_cast<std::uint64_t>(l.max.count()));
  };
  const SchedStats& s = m.sched;
  const GoroutineCounts& g = m.goroutines;
  line("/sched/goroutines:goroutines", static_cast<std::uint64_t>(g.total));
  line("/sched/goroutines/runnable:goroutines", static_cast<std::uint64_t>(g.runnable));
  line("/sched/goroutines/running:goroutines", static_cast<std::uint64_t>(g.running));
  line("/sched/goroutines/syscall:goroutines", static_cast<std::uint64_t>(g.syscall));
  line("/sched/goroutines/waiting:goroutines", static_cast<std::uint64_t>(g.waiting));
  line("/sched/goroutines/created:goroutines", s.goroutines_created);
  line("/sched/gomaxprocs:threads", static_cast<std::uint64_t>(s.gomaxprocs));
  line("/sched/procs/idle:procs", static_cast<std::uint64_t>(s.idle_procs));
  line("/sched/threads:threads", static_cast<std::uint64_t>(s.threads));
  line("/sched/threads/created:threads", s.threads_created);
  line("/sched/threads/spinning:threads", static_cast<std::uint64_t>(s.spinning_threads));
  line("/sched/runqueue/global:goroutines", static_cast<std::uint64_t>(s.global_runq));
  line("/sched/runqueue/overflows:events", s.runq_overflows);
  line("/sched/steals:events", s.steals);
  line("/sched/steals/goroutines:goroutines", s.stolen_goroutines);
  latency("/sched/latencies", m.sched_latency);
  line("/sched/syscalls:calls", s.syscalls);
  line("/sched/syscalls/exit-fast:calls", s.syscall_exit_fast);
  line("/sched/syscalls/exit-idle-p:calls", s.syscall_exit_idle_p);
  line("/sched/syscalls/exit-slow:calls", s.syscall_exit_slow);
  line("/sched/handoffs/retake:events", s.handoffs);
  line("/sched/handoffs/blocking:events", s.handoffs_block);
  line("/sched/handoffs/activated:events", s.handoffs_activated);
  line("/sched/activations:events", s.activations);
  line("/sched/activations/strays:signals", s.activation_strays);
  line("/sched/activations/preempted:events", s.activation_preempted);
  line("/sched/activations/uncovered:threads", s.activation_uncovered);
  line("/sched/unwrapped-blocks:events", s.unwrapped_blocks);
  line("/sched/unwrapped-blocks:ns", s.unwrapped_block_ns);
  line("/sched/preempt/requests:events", s.preempt_requests);
  line("/sched/preempt/signals:signals", s.preempt_signals);
  line("/sched/preempt/async:events", s.preempt_async);
  line("/sched/preempt/cooperative:events", s.preempt_cooperative);
  line("/sched/preempt/stale:signals", s.preempt_stale);
  line("/sched/preempt/trigger/fires:signals", s.trigger_fires);
  line("/sched/preempt/trigger/early:signals", s.trigger_early);
  line("/sched/preempt/trigger/idle:signals", s.trigger_idle);
  line("/sched/preempt/trigger/retries:signals", s.trigger_retries);
  line("/sched/preempt/trigger/uncovered:threads", s.trigger_uncovered);
  line("/sched/preempt/trigger/lead:nanoseconds", s.trigger_lead_ns);
  line("/sched/preempt/trigger/retunes:events", s.trigger_retunes);
  line("/sched/preempt/deferred/runtime:signals", s.preempt_deferred_runtime);
  line("/sched/preempt/deferred/locks:signals", s.preempt_deferred_locks);
  line("/sched/preempt/deferred/disabled:signals", s.preempt_deferred_disabled);
  line("/sched/preempt/deferred/foreign:signals", s.preempt_deferred_foreign);
  line("/sched/preempt/deferred/stack:signals", s.preempt_deferred_stack);
  line("/sched/preempt/deferred/signal:signals", s.preempt_deferred_signal);
  latency("/sched/preempt/latencies", m.preempt_latency);
  latency("/sched/preempt/overruns", m.preempt_overrun);
  line("/sched/timeslice:ns", static_cast<std::uint64_t>(timeslice().count()));
  line("/sync/mutex/starvation:events", s.mutex_starvation);
  line("/netpoll/polls:calls", s.netpoll_polls);
  line("/netpoll/polls/blocking:calls", s.netpoll_blocking);
  line("/netpoll/ready:goroutines", s.netpoll_ready);
  line("/netpoll/waiters:goroutines", static_cast<std::uint64_t>(s.netpoll_waiters));
  line("/sysmon/ticks:events", s.sysmon_ticks);
  line("/sysmon/idle-sleeps:events", s.sysmon_idle_sleeps);
  line("/sysmon/delay:us", static_cast<std::uint64_t>(s.sysmon_delay_us));
  line("/sysmon/cpu:ns", static_cast<std::uint64_t>(s.sysmon_cpu_ns));
  line("/sysmon/netpolls:calls", s.netpoll_sysmon);
  return out;
}

}  // namespace urgent
